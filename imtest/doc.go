// Package imtest holds in-process emulators of the WeCom group-bot webhook
// and the Tencent Cloud IM REST API, a media host for TIM, and a Recorder
// backend, for tests of code that pushes messages.
//
// The emulators listen on loopback, check requests the way the platforms
// do (keys and signatures, message fields and byte limits, md5s, multipart
// uploads, rate limits, deduplication), answer with the platforms'
// documented error codes inside HTTP 200 bodies, and record what they
// accept, decoded. Each can also inject faults: error codes, HTTP
// statuses, latency, dropped connections before or after the request was
// read, malformed or truncated answers, and answers without a
// Content-Type.
//
//	wc := imtest.NewWeCom()
//	defer wc.Close()
//	bot, _ := wecom.New(wc.Key, wecom.WithBaseURL(wc.URL))
//	// push through bot, then:
//	msgs := wc.Messages()
//
// For unit tests that need no HTTP at all, use Recorder as the Backend.
package imtest
