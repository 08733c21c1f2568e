package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"syscall"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
	current "github.com/containernetworking/cni/pkg/types/100"
)

// request is what the agent's POST /v1/cni takes (src/cni/protocol.ts has its schema).
type request struct {
	Command     string `json:"command"`
	ContainerID string `json:"containerId"`
	IfName      string `json:"ifName"`
	// A path to the pod's network namespace that the agent can open: this process's open
	// descriptor, /proc/<pid>/fd/<n>, valid while the plugin waits for the answer. It works
	// whatever path the runtime keeps namespaces under, as long as the agent sees the
	// node's processes (hostPID).
	Netns        string            `json:"netns"`
	RuntimeNetns string            `json:"runtimeNetns"`
	Pod          pod               `json:"pod"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	CNIVersion   string            `json:"cniVersion"`
	// Whether the interfaces set up before siding have an IPv6 address (from prevResult):
	// the agent then knows which families to program without reading the namespace.
	IPv6 *bool `json:"ipv6,omitempty"`
}

type response struct {
	OK      bool   `json:"ok"`
	Action  string `json:"action,omitempty"`
	Message string `json:"message,omitempty"`
	Code    uint   `json:"code,omitempty"`
	Details string `json:"details,omitempty"`
}

// Largest answer read from the agent: its answers are a few hundred bytes.
const maxResponse = 64 << 10

// forward hands the pod to the agent. An agent that cannot be reached fails the call for an
// injected pod (code 11, "try again later": the runtime retries the sandbox) and lets a pod
// the annotations did not describe through: the runtime gave no way to know it is injected,
// and such a pod, if it was, stops at its validation init container (exit 126) and is
// recreated by the agent's repair once the agent runs.
func forward(c *conf, p *pod, args *skel.CmdArgs, command string, d decision) error {
	ns, err := os.Open(args.Netns)
	if err != nil {
		return types.NewError(types.ErrInvalidNetNS, fmt.Sprintf("siding: cannot open the pod's network namespace %s: %v", args.Netns, err), "")
	}
	defer ns.Close()
	req := request{
		Command:      command,
		ContainerID:  args.ContainerID,
		IfName:       args.IfName,
		Netns:        fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns.Fd()),
		RuntimeNetns: args.Netns,
		Pod:          *p,
		Annotations:  c.annotations(),
		CNIVersion:   c.CNIVersion,
		IPv6:         hasIPv6(c.PrevResult),
	}
	resp, err := call(c, req)
	if err != nil {
		if d == unknown && unreachable(err) {
			stderrf("the node agent is not reachable at %s (%v); the runtime passed no annotations, so pod %s/%s passes through", c.Socket, err, p.Namespace, p.Name)
			return nil
		}
		return types.NewError(types.ErrTryAgainLater,
			fmt.Sprintf("siding: pod %s/%s needs its traffic redirect, but the siding CNI agent is not reachable at %s: %v (is the siding-cni DaemonSet running on this node?)", p.Namespace, p.Name, c.Socket, err), "")
	}
	if !resp.OK {
		code := resp.Code
		if code == 0 {
			code = errRedirect
		}
		return types.NewError(code, "siding: "+resp.Message, resp.Details)
	}
	return nil
}

// hasIPv6 reads prevResult's addresses; nil when it cannot be read as a result.
func hasIPv6(prev types.Result) *bool {
	r, err := current.NewResultFromResult(prev)
	if err != nil {
		return nil
	}
	v6 := false
	for _, ip := range r.IPs {
		if ip.Address.IP.To4() == nil && ip.Address.IP.IsGlobalUnicast() {
			v6 = true
		}
	}
	return &v6
}

// unreachable: nobody listens on the socket (no file, or a stale one).
func unreachable(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

func call(c *conf, req request) (*response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout())
	defer cancel()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", c.Socket)
		},
		DisableKeepAlives: true,
	}}
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://siding-cni-agent/v1/cni", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/json")
	hresp, err := client.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer hresp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(hresp.Body, maxResponse))
	if err != nil {
		return nil, err
	}
	out := &response{}
	if err := json.Unmarshal(data, out); err != nil || (hresp.StatusCode != http.StatusOK) {
		return &response{OK: false, Code: errProtocol, Message: fmt.Sprintf("the siding CNI agent answered HTTP %d: %.300s", hresp.StatusCode, bytes.TrimSpace(data))}, nil
	}
	return out, nil
}
