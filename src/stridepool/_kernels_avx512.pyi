# The AVX-512 (x86-64-v4) build of the same kernels (_kernels_impl.pxi): the interface of stridepool._kernels.
from ._kernels import *
