# Private compiled kernels built for x86-64-v4 (AVX-512 F/BW/DQ/VL, with AVX2 + FMA); imported only on CPUs
# that have them. The code is in _kernels_impl.pxi.
include "_kernels_impl.pxi"
