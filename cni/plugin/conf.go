package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/containernetworking/cni/pkg/types"
	"github.com/containernetworking/cni/pkg/version"
)

// The runtime capability that makes containerd and CRI-O pass the pod's annotations.
const podAnnotationsCapability = "io.kubernetes.cri.pod-annotations"

// The annotation siding's webhook records an injection in; in CNI mode its JSON holds
// `cniRedirect`, the `siding init` flags the agent programs.
const statusAnnotation = "siding.io/status"

const (
	defaultSocket  = "/var/run/siding/cni.sock"
	defaultTimeout = 30 * time.Second
	// The runtime itself gives up on a sandbox after a few minutes; two is far beyond any
	// real programming time (milliseconds) and still returns before it.
	maxTimeout = 120 * time.Second
)

type conf struct {
	types.PluginConf
	// The agent's unix socket (written into the chained entry by the agent).
	Socket string `json:"socket,omitempty"`
	// How long ADD and CHECK wait for the agent, in seconds.
	TimeoutSeconds int `json:"timeoutSeconds,omitempty"`
	RuntimeConfig  struct {
		PodAnnotations map[string]string `json:"io.kubernetes.cri.pod-annotations,omitempty"`
	} `json:"runtimeConfig,omitempty"`
	// Whether the runtime sent runtimeConfig at all (the annotations key may be absent).
	sawAnnotations bool
}

func parseConf(stdin []byte) (*conf, error) {
	c := &conf{}
	if err := json.Unmarshal(stdin, c); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "siding: cannot parse the network configuration: "+err.Error(), "")
	}
	var raw struct {
		RuntimeConfig map[string]json.RawMessage `json:"runtimeConfig"`
	}
	_ = json.Unmarshal(stdin, &raw)
	_, c.sawAnnotations = raw.RuntimeConfig[podAnnotationsCapability]
	if err := version.ParsePrevResult(&c.PluginConf); err != nil {
		return nil, types.NewError(types.ErrDecodingFailure, "siding: "+err.Error(), "")
	}
	if c.Socket == "" {
		c.Socket = defaultSocket
	}
	if !filepath.IsAbs(c.Socket) {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("siding: socket %q must be an absolute path", c.Socket), "")
	}
	if c.TimeoutSeconds < 0 || time.Duration(c.TimeoutSeconds)*time.Second > maxTimeout {
		return nil, types.NewError(types.ErrInvalidNetworkConfig, fmt.Sprintf("siding: timeoutSeconds must be between 1 and %d", int(maxTimeout.Seconds())), "")
	}
	return c, nil
}

func (c *conf) timeout() time.Duration {
	if c.TimeoutSeconds == 0 {
		return defaultTimeout
	}
	return time.Duration(c.TimeoutSeconds) * time.Second
}

// annotations returns the pod's annotations when the runtime passed them, else nil.
func (c *conf) annotations() map[string]string {
	if !c.sawAnnotations {
		return nil
	}
	if c.RuntimeConfig.PodAnnotations == nil {
		return map[string]string{}
	}
	return c.RuntimeConfig.PodAnnotations
}

// pod is who the runtime says the sandbox is for (CNI_ARGS, as the kubelet's runtimes set it).
type pod struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid,omitempty"`
}

type k8sArgs struct {
	types.CommonArgs
	K8S_POD_NAMESPACE          types.UnmarshallableString //nolint:revive // the runtime's spelling
	K8S_POD_NAME               types.UnmarshallableString //nolint:revive
	K8S_POD_UID                types.UnmarshallableString //nolint:revive
	K8S_POD_INFRA_CONTAINER_ID types.UnmarshallableString //nolint:revive
}

// podFromArgs reads the pod from CNI_ARGS; a sandbox without them is not a Kubernetes pod.
func podFromArgs(args string) (*pod, error) {
	a := k8sArgs{}
	a.IgnoreUnknown = true
	if err := types.LoadArgs(args, &a); err != nil {
		return nil, types.NewError(types.ErrInvalidEnvironmentVariables, "siding: CNI_ARGS: "+err.Error(), "")
	}
	if a.K8S_POD_NAMESPACE == "" || a.K8S_POD_NAME == "" {
		return nil, nil
	}
	return &pod{Namespace: string(a.K8S_POD_NAMESPACE), Name: string(a.K8S_POD_NAME), UID: string(a.K8S_POD_UID)}, nil
}

type decision int

const (
	notInjected decision = iota
	// The annotations say siding injected the pod in CNI mode.
	injected
	// The runtime did not pass the annotations: only the agent can tell.
	unknown
)

// decide says whether the pod needs the agent, from the annotations alone.
func decide(p *pod, annotations map[string]string) decision {
	if p == nil {
		return notInjected
	}
	if annotations == nil {
		return unknown
	}
	status, ok := annotations[statusAnnotation]
	if !ok {
		return notInjected
	}
	var record struct {
		CniRedirect json.RawMessage `json:"cniRedirect"`
	}
	// A record that is not JSON was not written by siding: the agent would refuse it too.
	if json.Unmarshal([]byte(status), &record) != nil || len(record.CniRedirect) == 0 || string(record.CniRedirect) == "null" {
		return notInjected
	}
	return injected
}
