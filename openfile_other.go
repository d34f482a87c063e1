//go:build !unix

package middleware

import "os"

// openFlags open a local source; outside Unix there are no FIFOs to block
// an open.
const openFlags = os.O_RDONLY
