# cython: language_level=3
"""The kernel table in use; `cimport` this to call the kernels (see _isa.pyx)."""

from ._kernels cimport DspKernels


cdef const DspKernels* active_kernels() noexcept nogil
