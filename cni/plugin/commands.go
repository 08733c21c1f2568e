package main

import (
	"fmt"
	"os"

	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/types"
)

// Error codes siding returns besides the spec's well-known ones (the spec reserves 0-99).
const (
	// The agent answered that the redirect could not be programmed (or checked).
	errRedirect = 100
	// The agent's answer could not be understood.
	errProtocol = 101
)

// cmdAdd passes the previous result through, after the agent programmed the redirect for an
// injected pod.
func cmdAdd(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig,
			"siding: no prevResult: siding is a chained plugin and must come after the plugin that sets up the pod's interface", "")
	}
	pod, err := podFromArgs(args.Args)
	if err != nil {
		return err
	}
	if d := decide(pod, conf.annotations()); d == notInjected {
		return types.PrintResult(conf.PrevResult, conf.CNIVersion)
	} else if err := forward(conf, pod, args, "ADD", d); err != nil {
		return err
	}
	return types.PrintResult(conf.PrevResult, conf.CNIVersion)
}

// cmdCheck asks the agent whether an injected pod still has its redirect.
func cmdCheck(args *skel.CmdArgs) error {
	conf, err := parseConf(args.StdinData)
	if err != nil {
		return err
	}
	if conf.PrevResult == nil {
		return types.NewError(types.ErrInvalidNetworkConfig, "siding: CHECK needs prevResult", "")
	}
	pod, err := podFromArgs(args.Args)
	if err != nil {
		return err
	}
	d := decide(pod, conf.annotations())
	if d == notInjected {
		return nil
	}
	return forward(conf, pod, args, "CHECK", d)
}

// cmdDel has nothing to undo: the rules live in the pod's network namespace and go with
// it. It never fails, as the spec asks of DEL.
func cmdDel(_ *skel.CmdArgs) error { return nil }

// cmdStatus always reports ready. Pods siding did not inject need nothing from the agent,
// so an agent that is down must not stop the runtime from creating any pod on the node;
// injected pods get a precise error from ADD instead.
func cmdStatus(args *skel.CmdArgs) error {
	_, err := parseConf(args.StdinData)
	return err
}

// cmdGC has nothing to collect: siding keeps no state per attachment outside the pod.
func cmdGC(args *skel.CmdArgs) error {
	_, err := parseConf(args.StdinData)
	return err
}

// stderrf writes a diagnostic the runtime may log; stdout is reserved for the result.
func stderrf(format string, a ...any) {
	_, _ = fmt.Fprintf(os.Stderr, "siding: "+format+"\n", a...)
}
