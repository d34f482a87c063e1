//go:build unix

package middleware

import (
	"os"
	"syscall"
)

// openFlags open a local source without ever blocking: with O_NONBLOCK,
// opening a FIFO (swapped in after the path was checked) returns at once
// instead of waiting for a writer, and openRegular then refuses it. Reads
// of a regular file do not heed O_NONBLOCK.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK
