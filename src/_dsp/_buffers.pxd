# cython: language_level=3
"""Buffer-protocol helpers shared by the extension modules (inline, no module of its own)."""

from cpython.buffer cimport (
    PyBUF_FORMAT, PyBUF_STRIDES, PyBUF_WRITABLE, PyBuffer_IsContiguous, PyBuffer_Release,
    PyObject_GetBuffer,
)

cdef enum:
    KIND_INT16 = 1
    KIND_FLOAT32 = 2


cdef inline int _format_kind(const char* fmt, Py_ssize_t itemsize) noexcept:
    if fmt == NULL:
        return KIND_INT16 if itemsize == 1 else 0
    cdef char c = fmt[0]
    if c == b'@' or c == b'=' or c == b'<':
        fmt += 1
        c = fmt[0]
    if fmt[0] == 0 or fmt[1] != 0:
        return 0
    if (c == b'h') and itemsize == 2:
        return KIND_INT16
    if c == b'f' and itemsize == 4:
        return KIND_FLOAT32
    if (c == b'B' or c == b'b' or c == b'c') and itemsize == 1:
        return KIND_INT16
    return 0


cdef inline int get_audio_buffer(object obj, Py_buffer* view, bint writable,
                                 str what) except 0:
    """Acquire `obj` as C-contiguous audio; return KIND_INT16 or KIND_FLOAT32.

    Byte buffers count as int16 and must hold an even number of bytes.
    """
    # C order only: samples are read as interleaved frames, and a Fortran-ordered
    # (frames, channels) array would be read channel after channel instead. The layout
    # is checked here rather than requested, since exporters refuse a C-contiguous
    # request with differing exception types (numpy raises ValueError).
    cdef int flags = PyBUF_FORMAT | PyBUF_STRIDES
    if writable:
        flags |= PyBUF_WRITABLE
    try:
        PyObject_GetBuffer(obj, view, flags)
    except BufferError as exc:
        raise TypeError(
            f"{what} must be a C-contiguous (interleaved){' writable' if writable else ''} "
            f"int16 or float32 buffer, got {type(obj).__name__}: {exc}"
        ) from None
    except TypeError:
        raise TypeError(
            f"{what} must be an int16 or float32 buffer (bytes, bytearray, memoryview, "
            f"numpy), got {type(obj).__name__}"
        ) from None
    cdef str layout
    if not PyBuffer_IsContiguous(view, b'C'):
        layout = "Fortran-ordered" if PyBuffer_IsContiguous(view, b'F') else "strided"
        PyBuffer_Release(view)
        raise TypeError(
            f"{what} must be a C-contiguous (interleaved) buffer, got a {layout} "
            f"{type(obj).__name__}"
        )
    cdef int kind = _format_kind(view.format, view.itemsize)
    if kind == 0:
        fmt = "" if view.format == NULL else (<bytes>view.format).decode("ascii", "replace")
        PyBuffer_Release(view)
        raise TypeError(
            f"{what} must hold int16 or float32 samples, got buffer format {fmt!r} "
            f"with item size {view.itemsize}"
        )
    if kind == KIND_INT16 and view.len % 2:
        n = view.len
        PyBuffer_Release(view)
        raise ValueError(f"{what} holds an odd number of bytes ({n}); int16 needs pairs")
    return kind
