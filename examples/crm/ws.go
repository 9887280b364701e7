package main

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/tenantwall/tenantwall/tenant"
)

// hub fans notifications out to the WebSocket clients of their tenant
// only. It is per process; several instances would relay through Redis
// pub/sub on a channel per tenant.
type hub struct {
	mu   sync.Mutex
	subs map[string]map[chan []byte]struct{} // tenant ID → subscribers
}

func newHub() *hub { return &hub{subs: map[string]map[chan []byte]struct{}{}} }

func (h *hub) subscribe(tenantID string) (chan []byte, func()) {
	ch := make(chan []byte, 16)
	h.mu.Lock()
	if h.subs[tenantID] == nil {
		h.subs[tenantID] = map[chan []byte]struct{}{}
	}
	h.subs[tenantID][ch] = struct{}{}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs[tenantID], ch)
		if len(h.subs[tenantID]) == 0 {
			delete(h.subs, tenantID)
		}
		h.mu.Unlock()
	}
}

// publish sends item to the context tenant's subscribers; a slow one
// misses messages rather than blocking the request.
func (h *hub) publish(ctx context.Context, item map[string]any) {
	id, err := tenant.IDFromContext(ctx)
	if err != nil {
		return
	}
	msg, _ := json.Marshal(map[string]any{"type": "notification", "notification": item})
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs[id] {
		select {
		case ch <- msg:
		default:
		}
	}
}

// notificationsSocket upgrades an authenticated request of a tenant whose
// Origin is the same tenant, and streams that tenant's new notifications.
func (a *app) notificationsSocket(w http.ResponseWriter, r *http.Request) {
	if err := a.resolver.CheckOrigin(r); err != nil {
		writeError(w, http.StatusForbidden, "origin not allowed")
		return
	}
	// The Origin was checked against the tenant above (custom domains
	// included), which is stricter than coder/websocket's same-host rule.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{InsecureSkipVerify: true})
	if err != nil {
		return
	}
	defer c.CloseNow()
	id := tenant.MustFromContext(r.Context()).ID
	ch, unsubscribe := a.hub.subscribe(id)
	defer unsubscribe()
	ctx := c.CloseRead(r.Context())
	ping := time.NewTicker(30 * time.Second)
	defer ping.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusNormalClosure, "")
			return
		case msg := <-ch:
			wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err := c.Write(wctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				return
			}
		case <-ping.C:
			if err := c.Ping(ctx); err != nil {
				return
			}
		}
	}
}
