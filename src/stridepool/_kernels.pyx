# Private compiled kernels, baseline instruction set (SSE2 on x86-64). The code is in _kernels_impl.pxi.
include "_kernels_impl.pxi"
