// Package grpcunary is a minimal gRPC client for unary calls: HTTP/2 over
// cleartext with prior knowledge, one connection, one call at a time. It is
// what the publisher's gRPC path needs without linking google.golang.org/grpc,
// whose transport, resolvers, balancers and net/http cost every shim process
// about 250 KiB of private memory (docs/benchmarks.md). Errors are gRPC status
// errors (google.golang.org/grpc/status, linked anyway through ttrpc and
// errdefs), so callers test codes as with a grpc.ClientConn.
package grpcunary

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2/hpack"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const (
	clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

	frameData         = 0x0
	frameHeaders      = 0x1
	frameRSTStream    = 0x3
	frameSettings     = 0x4
	framePushPromise  = 0x5
	framePing         = 0x6
	frameGoAway       = 0x7
	frameWindowUpdate = 0x8
	frameContinuation = 0x9

	flagEndStream  = 0x1
	flagAck        = 0x1
	flagEndHeaders = 0x4
	flagPadded     = 0x8
	flagPriority   = 0x20

	settingHeaderTableSize   = 0x1
	settingEnablePush        = 0x2
	settingInitialWindowSize = 0x4
	settingMaxFrameSize      = 0x5

	// RFC 9113 defaults; this client announces none other, so these also
	// bound what the server may send.
	defaultWindow   = 65535
	defaultMaxFrame = 16384
	maxStreamID     = 1<<31 - 1
	maxHeaderBlock  = 1 << 20
)

// Conn is one HTTP/2 connection carrying unary gRPC calls one after another.
// Nothing reads the connection between calls: frames the server sends then
// (PING, SETTINGS, GOAWAY) are handled at the next call, and a connection
// the server closed shows as an Unavailable error on it.
type Conn struct {
	mu        sync.Mutex
	nc        net.Conn
	r         *bufio.Reader
	w         *bufio.Writer
	authority string
	enc       *hpack.Encoder
	encBuf    headerBuffer
	dec       *hpack.Decoder

	lastStream    uint32
	sendWindow    int64 // connection-level, what the server lets us send
	initialWindow int64 // the server's initial window for a new stream
	maxFrame      int   // the largest frame payload the server accepts
	goAway        bool
	unacked       int   // DATA bytes received and not yet given back
	err           error // sticky: the connection is unusable

	header  [9]byte
	payload []byte
}

type headerBuffer struct{ b []byte }

// Write appends p; it never fails.
func (h *headerBuffer) Write(p []byte) (int, error) { h.b = append(h.b, p...); return len(p), nil }

// Dial speaks HTTP/2 on nc, an established connection: it sends the client
// preface and waits for the server's SETTINGS, so that a peer that is not an
// HTTP/2 server fails here. authority is the :authority of every call.
func Dial(ctx context.Context, nc net.Conn, authority string) (*Conn, error) {
	c := &Conn{
		nc:            nc,
		r:             bufio.NewReaderSize(nc, 4096),
		w:             bufio.NewWriterSize(nc, 4096),
		authority:     authority,
		sendWindow:    defaultWindow,
		initialWindow: defaultWindow,
		maxFrame:      defaultMaxFrame,
		payload:       make([]byte, 0, 512),
	}
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.dec = hpack.NewDecoder(4096, nil)
	c.dec.SetMaxStringLength(maxHeaderBlock)
	done := c.bind(ctx)
	err := c.handshake()
	if !done() {
		err = ctx.Err()
	}
	if err != nil {
		nc.Close()
		return nil, err
	}
	return c, nil
}

func (c *Conn) handshake() error {
	c.w.WriteString(clientPreface)
	var push [6]byte
	binary.BigEndian.PutUint16(push[0:], settingEnablePush)
	c.writeFrame(frameSettings, 0, 0, push[:])
	if err := c.w.Flush(); err != nil {
		return err
	}
	typ, flags, _, payload, err := c.readFrame()
	if err != nil {
		return fmt.Errorf("reading the server's HTTP/2 preface: %w", err)
	}
	if typ != frameSettings || flags&flagAck != 0 {
		return fmt.Errorf("peer is not an HTTP/2 server: first frame has type %d", typ)
	}
	if err := c.settings(payload); err != nil {
		return err
	}
	return c.w.Flush()
}

// bind makes ctx's end interrupt any I/O on the connection. The returned
// function detaches it and reports false when ctx ended meanwhile. Only
// ctx's end sets the socket's deadline, so an I/O timeout always comes
// with ctx.Err() set: a deadline of its own could fire a moment before
// ctx's timer and make a DeadlineExceeded call look like a broken
// connection (Unavailable).
func (c *Conn) bind(ctx context.Context) func() bool {
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(time.Unix(1, 0)) })
	return func() bool {
		if !stop() {
			return false
		}
		c.nc.SetDeadline(time.Time{})
		return true
	}
}

// Close closes the connection; a call in progress fails.
func (c *Conn) Close() error {
	return c.nc.Close()
}

// Invoke calls method (/package.Service/Method) with the marshalled request
// and returns the marshalled response. Calls are serialized. Errors are gRPC
// status errors: the server's status, Unavailable when the connection broke
// (it is then unusable, and every later call returns the same error), or
// the context's.
func (c *Conn) Invoke(ctx context.Context, method string, request []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return nil, c.err
	}
	if c.goAway || c.lastStream+2 > maxStreamID {
		return nil, status.Error(codes.Unavailable, "grpc: the connection takes no new calls (server sent GOAWAY)")
	}
	done := c.bind(ctx)
	response, callErr, connErr := c.call(ctx, method, request)
	if !done() {
		connErr = ctx.Err()
	}
	if connErr != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			c.err = status.FromContextError(ctxErr).Err()
		} else {
			c.err = status.Errorf(codes.Unavailable, "grpc connection: %v", connErr)
		}
		c.nc.Close()
		return nil, c.err
	}
	return response, callErr
}

// stream is the state of the call in progress.
type stream struct {
	id         uint32
	sendWindow int64
	headers    []hpack.HeaderField
	trailers   []hpack.HeaderField
	data       []byte
	unacked    int
	reset      error
	closed     bool // the server ended the stream
}

// call runs one unary call. callErr is the call's outcome as the server gave
// it; connErr means the connection can no longer be trusted.
func (c *Conn) call(ctx context.Context, method string, request []byte) (response []byte, callErr, connErr error) {
	c.lastStream += 2
	if c.lastStream == 2 {
		c.lastStream = 1 // client streams are odd, from 1
	}
	s := &stream{id: c.lastStream, sendWindow: c.initialWindow}

	c.encBuf.b = c.encBuf.b[:0]
	c.encodeHeader(":method", "POST")
	c.encodeHeader(":scheme", "http")
	c.encodeHeader(":path", method)
	c.encodeHeader(":authority", c.authority)
	c.encodeHeader("content-type", "application/grpc")
	c.encodeHeader("te", "trailers")
	if deadline, ok := ctx.Deadline(); ok {
		c.encodeHeader("grpc-timeout", encodeTimeout(time.Until(deadline)))
	}
	c.writeHeaders(s.id, c.encBuf.b)

	// The gRPC message: uncompressed flag, length, bytes.
	var prefix [5]byte
	binary.BigEndian.PutUint32(prefix[1:], uint32(len(request)))
	body := append(prefix[:], request...)
	for len(body) > 0 && !s.closed {
		n := min(len(body), c.maxFrame, int(min(c.sendWindow, s.sendWindow)))
		if n <= 0 {
			// Out of flow-control window: let the server's frames in.
			if err := c.w.Flush(); err != nil {
				return nil, nil, err
			}
			if err := c.process(s); err != nil {
				return nil, nil, err
			}
			continue
		}
		flags := byte(0)
		if n == len(body) {
			flags = flagEndStream
		}
		c.writeFrame(frameData, flags, s.id, body[:n])
		body = body[n:]
		c.sendWindow -= int64(n)
		s.sendWindow -= int64(n)
	}
	if err := c.w.Flush(); err != nil {
		return nil, nil, err
	}
	for !s.closed {
		if err := c.process(s); err != nil {
			return nil, nil, err
		}
	}
	response, callErr = s.result()
	return response, callErr, nil
}

func (c *Conn) encodeHeader(name, value string) {
	c.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
}

// writeHeaders sends a header block as HEADERS and, beyond the server's
// frame size, CONTINUATION frames.
func (c *Conn) writeHeaders(id uint32, block []byte) {
	typ := byte(frameHeaders)
	for {
		n := min(len(block), c.maxFrame)
		flags := byte(0)
		if n == len(block) {
			flags = flagEndHeaders
		}
		c.writeFrame(typ, flags, id, block[:n])
		block = block[n:]
		if len(block) == 0 {
			return
		}
		typ = frameContinuation
	}
}

// writeFrame buffers one frame; errors show at the next Flush.
func (c *Conn) writeFrame(typ, flags byte, id uint32, payload []byte) {
	var h [9]byte
	h[0], h[1], h[2] = byte(len(payload)>>16), byte(len(payload)>>8), byte(len(payload))
	h[3], h[4] = typ, flags
	binary.BigEndian.PutUint32(h[5:], id)
	c.w.Write(h[:])
	c.w.Write(payload)
}

// readFrame reads one frame; payload is valid until the next read.
func (c *Conn) readFrame() (typ, flags byte, id uint32, payload []byte, err error) {
	if _, err = io.ReadFull(c.r, c.header[:]); err != nil {
		return
	}
	length := int(c.header[0])<<16 | int(c.header[1])<<8 | int(c.header[2])
	if length > defaultMaxFrame {
		return 0, 0, 0, nil, fmt.Errorf("frame of %d bytes exceeds the %d announced", length, defaultMaxFrame)
	}
	typ, flags = c.header[3], c.header[4]
	id = binary.BigEndian.Uint32(c.header[5:]) & maxStreamID
	if cap(c.payload) < length {
		c.payload = make([]byte, length)
	}
	payload = c.payload[:length]
	_, err = io.ReadFull(c.r, payload)
	return
}

// process reads and handles one frame from the server (more for a header
// block split into CONTINUATION frames); replies it owes are buffered and
// flushed before the next read.
func (c *Conn) process(s *stream) error {
	if c.w.Buffered() > 0 {
		if err := c.w.Flush(); err != nil {
			return err
		}
	}
	typ, flags, id, payload, err := c.readFrame()
	if err != nil {
		return err
	}
	switch typ {
	case frameData:
		// Responses are consumed as they come: give the window back once
		// half of it is used, not per frame, to save a write per call.
		if c.unacked += len(payload); c.unacked >= defaultWindow/2 {
			c.windowUpdate(0, c.unacked)
			c.unacked = 0
		}
		if id == s.id && flags&flagEndStream == 0 {
			if s.unacked += len(payload); s.unacked >= defaultWindow/2 {
				c.windowUpdate(id, s.unacked)
				s.unacked = 0
			}
		}
		data, err := unpad(flags, payload)
		if err != nil {
			return err
		}
		if id == s.id {
			s.data = append(s.data, data...)
			s.closed = flags&flagEndStream != 0
		}
	case frameHeaders:
		block, err := unpad(flags, payload)
		if err != nil {
			return err
		}
		if flags&flagPriority != 0 {
			if len(block) < 5 {
				return errors.New("HEADERS frame too short for its priority")
			}
			block = block[5:]
		}
		// Every header block is decoded, whichever stream it is for, to keep
		// the decoder's dynamic table in step with the server's encoder.
		fields, err := c.headerBlock(id, flags, block)
		if err != nil {
			return err
		}
		if id == s.id {
			if s.headers == nil {
				s.headers = fields
			} else {
				s.trailers = fields
			}
			s.closed = flags&flagEndStream != 0
		}
	case frameRSTStream:
		if len(payload) != 4 {
			return errors.New("bad RST_STREAM frame")
		}
		if id == s.id {
			s.reset = resetError(binary.BigEndian.Uint32(payload))
			s.closed = true
		}
	case frameSettings:
		if flags&flagAck == 0 {
			return c.settings(payload)
		}
	case framePing:
		if len(payload) != 8 {
			return errors.New("bad PING frame")
		}
		if flags&flagAck == 0 {
			c.writeFrame(framePing, flagAck, 0, payload)
		}
	case frameGoAway:
		if len(payload) < 8 {
			return errors.New("bad GOAWAY frame")
		}
		c.goAway = true
		if last := binary.BigEndian.Uint32(payload) & maxStreamID; s.id > last {
			s.reset = status.Error(codes.Unavailable, "grpc: the server is going away and did not take the call")
			s.closed = true
		}
	case frameWindowUpdate:
		if len(payload) != 4 {
			return errors.New("bad WINDOW_UPDATE frame")
		}
		increment := int64(binary.BigEndian.Uint32(payload) & maxStreamID)
		if id == 0 {
			c.sendWindow += increment
		} else if id == s.id {
			s.sendWindow += increment
		}
	case framePushPromise, frameContinuation:
		// Push is disabled in our SETTINGS; a CONTINUATION is only valid
		// right after its HEADERS, which headerBlock reads.
		return fmt.Errorf("unexpected HTTP/2 frame type %d", typ)
	}
	// PRIORITY and unknown frame types carry nothing for us.
	return nil
}

// headerBlock reads the CONTINUATION frames of a block that does not end in
// its HEADERS frame and decodes the whole block.
func (c *Conn) headerBlock(id uint32, flags byte, first []byte) ([]hpack.HeaderField, error) {
	block := first
	if flags&flagEndHeaders == 0 {
		block = append([]byte(nil), first...)
		for {
			typ, flags, cid, payload, err := c.readFrame()
			if err != nil {
				return nil, err
			}
			if typ != frameContinuation || cid != id {
				return nil, errors.New("header block interrupted by another frame")
			}
			if block = append(block, payload...); len(block) > maxHeaderBlock {
				return nil, errors.New("header block too large")
			}
			if flags&flagEndHeaders != 0 {
				break
			}
		}
	}
	fields, err := c.dec.DecodeFull(block)
	if err != nil {
		return nil, fmt.Errorf("decoding headers: %w", err)
	}
	return fields, nil
}

func (c *Conn) windowUpdate(id uint32, n int) {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], uint32(n))
	c.writeFrame(frameWindowUpdate, 0, id, b[:])
}

// settings applies the server's SETTINGS and acknowledges them.
func (c *Conn) settings(payload []byte) error {
	if len(payload)%6 != 0 {
		return errors.New("bad SETTINGS frame")
	}
	for ; len(payload) > 0; payload = payload[6:] {
		value := binary.BigEndian.Uint32(payload[2:])
		switch binary.BigEndian.Uint16(payload) {
		case settingHeaderTableSize:
			c.enc.SetMaxDynamicTableSizeLimit(value)
		case settingInitialWindowSize:
			if value > maxStreamID {
				return errors.New("initial window size too large")
			}
			c.initialWindow = int64(value)
		case settingMaxFrameSize:
			if value < defaultMaxFrame || value > 1<<24-1 {
				return errors.New("bad max frame size")
			}
			c.maxFrame = int(value)
		}
	}
	c.writeFrame(frameSettings, flagAck, 0, nil)
	return nil
}

func unpad(flags byte, payload []byte) ([]byte, error) {
	if flags&flagPadded == 0 {
		return payload, nil
	}
	if len(payload) == 0 || int(payload[0]) >= len(payload) {
		return nil, errors.New("bad frame padding")
	}
	return payload[1 : len(payload)-int(payload[0])], nil
}

// result turns the ended stream into the call's outcome, as grpc-go does.
func (s *stream) result() ([]byte, error) {
	if s.reset != nil {
		return nil, s.reset
	}
	fields := s.trailers
	if fields == nil {
		fields = s.headers // trailers-only response
	}
	httpStatus, grpcStatus, message := "", "", ""
	for _, f := range s.headers {
		if f.Name == ":status" {
			httpStatus = f.Value
		}
	}
	for _, f := range fields {
		switch f.Name {
		case "grpc-status":
			grpcStatus = f.Value
		case "grpc-message":
			message = decodeMessage(f.Value)
		}
	}
	if grpcStatus == "" {
		if httpStatus != "200" {
			return nil, status.Errorf(httpCode(httpStatus), "grpc: unexpected HTTP status %q", httpStatus)
		}
		return nil, status.Error(codes.Internal, "grpc: the server ended the call without a grpc-status")
	}
	code, err := strconv.ParseUint(grpcStatus, 10, 32)
	if err != nil {
		return nil, status.Errorf(codes.Internal, "grpc: malformed grpc-status %q", grpcStatus)
	}
	if code != uint64(codes.OK) {
		return nil, status.Error(codes.Code(code), message)
	}
	if len(s.data) < 5 || s.data[0] != 0 || int(binary.BigEndian.Uint32(s.data[1:])) != len(s.data)-5 {
		return nil, status.Error(codes.Internal, "grpc: the response is not one uncompressed message")
	}
	return s.data[5:], nil
}

// resetError maps an RST_STREAM error code as grpc-go does.
func resetError(code uint32) error {
	switch code {
	case 0x7: // REFUSED_STREAM: the server never processed the call.
		return status.Error(codes.Unavailable, "grpc: the server refused the stream")
	case 0x8: // CANCEL
		return status.Error(codes.Canceled, "grpc: the server cancelled the stream")
	case 0xb: // ENHANCE_YOUR_CALM
		return status.Error(codes.ResourceExhausted, "grpc: the server reset the stream (ENHANCE_YOUR_CALM)")
	case 0xc: // INADEQUATE_SECURITY
		return status.Error(codes.PermissionDenied, "grpc: the server reset the stream (INADEQUATE_SECURITY)")
	}
	return status.Errorf(codes.Internal, "grpc: the server reset the stream with HTTP/2 error code %d", code)
}

// httpCode maps a non-gRPC HTTP answer to a code, per gRPC's
// http-grpc-status-mapping.
func httpCode(httpStatus string) codes.Code {
	switch httpStatus {
	case "400":
		return codes.Internal
	case "401":
		return codes.Unauthenticated
	case "403":
		return codes.PermissionDenied
	case "404":
		return codes.Unimplemented
	case "429", "502", "503", "504":
		return codes.Unavailable
	}
	return codes.Unknown
}

// decodeMessage undoes grpc-message's percent-encoding.
func decodeMessage(v string) string {
	out := make([]byte, 0, len(v))
	for i := 0; i < len(v); i++ {
		if v[i] == '%' && i+2 < len(v) {
			if b, err := strconv.ParseUint(v[i+1:i+3], 16, 8); err == nil {
				out = append(out, byte(b))
				i += 2
				continue
			}
		}
		out = append(out, v[i])
	}
	return string(out)
}

// encodeTimeout writes d as a grpc-timeout value: at most 8 digits and a unit.
func encodeTimeout(d time.Duration) string {
	if d <= 0 {
		return "1n"
	}
	for _, u := range []struct {
		unit string
		size time.Duration
	}{{"n", time.Nanosecond}, {"u", time.Microsecond}, {"m", time.Millisecond}, {"S", time.Second}, {"M", time.Minute}} {
		if v := (d + u.size - 1) / u.size; v <= 99999999 {
			return strconv.FormatInt(int64(v), 10) + u.unit
		}
	}
	return strconv.FormatInt(int64((d+time.Hour-1)/time.Hour), 10) + "H"
}
