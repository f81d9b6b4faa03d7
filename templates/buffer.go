package templates

import (
	"bytes"
	"sync"
)

// maxPooledBuffer bounds the buffers kept for reuse: a page is ~12 KiB, a
// SAML auto-POST page carries the signed Response (tens of KiB); a rare
// larger one is left to the garbage collector instead of pinning memory.
const maxPooledBuffer = 256 << 10

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// GetBuffer returns an empty buffer to render a page into; give it back
// with PutBuffer once its bytes are written.
func GetBuffer() *bytes.Buffer {
	return buffers.Get().(*bytes.Buffer)
}

// PutBuffer returns buf for reuse. Its bytes must no longer be used.
func PutBuffer(buf *bytes.Buffer) {
	if buf.Cap() > maxPooledBuffer {
		return
	}
	buf.Reset()
	buffers.Put(buf)
}
