# The AVX2 + FMA build of the same kernels (_kernels_impl.pxi): the interface of stridepool._kernels.
from ._kernels import *
