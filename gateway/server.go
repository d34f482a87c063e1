package gateway

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"text/template"
	"time"

	"github.com/imbridge/middleware"
	"github.com/imbridge/middleware/accounturl"
	"github.com/imbridge/middleware/dingtalk"
	"github.com/imbridge/middleware/feishu"
	"github.com/imbridge/middleware/outbox"
	"github.com/imbridge/middleware/timchat"
	"github.com/imbridge/middleware/wecom"
)

// Server is the alert gateway: it takes Alertmanager's and Grafana's
// webhooks and plain sends, writes one message per notification, queues
// it durably before answering 200, and delivers it through the outbox
// under the platform's budget, once across HA peers and replicas.
type Server struct {
	cfg     *Config
	loc     *time.Location
	client  *middleware.Client
	box     *outbox.Outbox
	marks   Marks
	journal Journal
	routes  map[string]*route
	m       *metrics
	log     *slog.Logger
	ready   func(context.Context) error
	replica string
	watch   *watcher
	now     func() time.Time
	hold    time.Duration // how long a reservation is held: reserveHold
}

// route is a configured Route, resolved.
type route struct {
	Route
	im      string
	tmpl    *template.Template
	limit   int               // bytes of one message
	mention middleware.Option // on firing notifications; nil: none
}

// New builds the gateway of cfg: its accounts, routes and templates are
// checked here, so that a configuration that cannot work fails at start.
func New(cfg *Config, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	if o.replica == "" {
		o.replica = "gw-" + randomHex(6)
	}
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("%w: timezone: %q is not a time zone name", ErrConfig, cfg.Timezone)
	}
	s := &Server{cfg: cfg, loc: loc, marks: o.marks, journal: o.journal, m: newMetrics(), log: o.logger,
		ready: o.ready, replica: o.replica, now: time.Now, hold: reserveHold, routes: map[string]*route{}}
	if s.marks == nil {
		s.marks = NewMemoryMarks()
	}
	if s.journal == nil {
		s.journal = NewMemoryJournal()
	}
	if err := s.build(o); err != nil {
		return nil, err
	}
	s.watch = newWatcher(s)
	return s, nil
}

// build builds the client, the routes and the outbox.
func (s *Server) build(o options) error {
	var aopts []accounturl.Option
	if o.limiter != nil {
		aopts = append(aopts, accounturl.WithLimiter(o.limiter))
	}
	accts, err := accounturl.ParseFile(strings.NewReader(strings.Join(s.cfg.Accounts, "\n")), "accounts line", aopts...)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	copts := []middleware.ClientOption{middleware.WithLogger(s.log)}
	ims := map[string]string{}
	for _, a := range accts {
		copts = append(copts, middleware.WithAccount(a.Account))
		ims[a.ID] = a.IM
	}
	if s.client, err = middleware.NewClient(copts...); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	for i, r := range s.cfg.Routes {
		rt, err := s.openRoute(r, ims)
		if err != nil {
			return fmt.Errorf("routes[%d] (%s): %w", i, r.Name, err)
		}
		s.routes[r.Name] = rt
	}
	bopts := []outbox.Option{outbox.WithLogger(s.log), outbox.WithWorkerName(s.replica)}
	if o.store != nil {
		bopts = append(bopts, outbox.WithStore(o.store))
	}
	s.box, err = outbox.New(s.client, append(bopts, o.outboxOpts...)...)
	return err
}

// openRoute resolves r: its account's IM, its template, its message size,
// its mentions, and a push to its target checked as the SDK would.
func (s *Server) openRoute(r Route, ims map[string]string) (*route, error) {
	im, ok := ims[r.Account]
	if !ok {
		return nil, fmt.Errorf("%w: account %q is not one of accounts", ErrConfig, r.Account)
	}
	rt := &route{Route: r, im: im}
	switch im {
	case wecom.IM:
		rt.limit = wecom.TextLimit
	case timchat.IM:
		rt.limit = timchat.BodyLimit
	default:
		rt.limit = dingtalk.BodyLimit / 2 // the JSON around the text, escapes included, takes the rest
	}
	if len(r.Users) > 0 && im != timchat.IM {
		return nil, fmt.Errorf("%w: users are TIM's; a %s route goes to group (or its bot's own group)", ErrConfig, im)
	}
	if len(r.Mentions) > 0 {
		switch im {
		case wecom.IM:
			rt.mention = wecom.Mention(r.Mentions...)
		case dingtalk.IM:
			rt.mention = dingtalk.MentionUser(r.Mentions...)
		case feishu.IM:
			rt.mention = feishu.Mention(r.Mentions...)
		default:
			return nil, fmt.Errorf("%w: mentions: %s has no mentions here", ErrConfig, im)
		}
	}
	if r.Template != "" {
		t, err := loadTemplate(r.Template, s.loc)
		if err != nil {
			return nil, err
		}
		rt.tmpl = t
	}
	if _, err := s.client.Check(context.Background(), rt.requests("check", true, "")[0]); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return rt, nil
}

// requests are the pushes of text on the route: one, or, for a text
// longer than one message, one per marked part, in order on one lane.
// With a keyBase each carries an idempotency key made from it and its
// index, so that queueing them again (a takeover, a retry after a failure
// part-way) adds only the parts that were not queued: the outbox keeps one
// job per key. Without one, only a text of several parts is keyed, from a
// base of its own.
func (rt *route) requests(text string, firing bool, keyBase string) []middleware.Request {
	parts := split(text, rt.limit)
	out := make([]middleware.Request, len(parts))
	for i, p := range parts {
		r := middleware.Request{Helper: middleware.HelperPush, IM: rt.im, GroupCode: rt.Group, UserID: strings.Join(rt.Users, "|"),
			Content: p, Options: []middleware.Option{middleware.WithAccountID(rt.Account)}}
		if firing && rt.mention != nil && i == 0 {
			r.Options = append(r.Options, rt.mention)
		}
		if keyBase != "" {
			r.Options = append(r.Options, middleware.WithIdempotencyKey(partKey(keyBase, i)))
		}
		out[i] = r
	}
	return out
}

// partKey is the idempotency key of part i of a split notification.
func partKey(base string, i int) uint64 {
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s|part %d", base, i)))
	return binary.BigEndian.Uint64(sum[:8]) | 1 // never 0, which means none
}

// write is the message of n on rt: its template's, or the digest. A
// template that fails on this notification (a missing index, say) does
// not lose it: the digest goes, saying so.
func (s *Server) write(rt *route, n *Notification) string {
	if rt.tmpl == nil {
		return digest(n, s.loc, rt.MaxAlerts)
	}
	f, r := n.counts()
	text, err := render(rt.tmpl, TemplateData{Notification: n, Route: rt.Name, Firing: f, Resolved: r})
	if err == nil && strings.TrimSpace(text) != "" {
		return text
	}
	if err == nil {
		err = errors.New("it wrote nothing")
	}
	s.log.Warn("gateway: template failed; the built-in digest goes instead", slog.String("route", rt.Name), slog.String("error", err.Error()))
	return digest(n, s.loc, rt.MaxAlerts) + "\n(the route's template failed: " + oneLine(err.Error()) + ")"
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// markdownOption is the option that sends markdown on im.
func markdownOption(im string) (middleware.Option, bool) {
	switch im {
	case wecom.IM:
		return wecom.Markdown(), true
	case dingtalk.IM:
		return dingtalk.Markdown(), true
	case feishu.IM:
		return feishu.Markdown(), true
	}
	return nil, false
}
