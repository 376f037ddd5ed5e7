# Private compiled kernels built with AVX2 + FMA (x86-64 only); imported only on CPUs that have them.
# The code is in _kernels_impl.pxi.
include "_kernels_impl.pxi"
