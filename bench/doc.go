// Package bench holds the SDK's benchmarks and scale tests: the SDK against
// a hand-written net/http client on the same loopback emulator, upload
// memory, and pushes at scale. It has no API.
//
//	go test -run '^$' -bench . -benchmem ./bench/ ./wecom/
package bench
