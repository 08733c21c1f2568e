// Command siding is siding's CNI plugin: a chained plugin that hands each pod that siding
// injected in CNI mode to the node agent (`siding cni-agent`), which programs the traffic
// redirect in the pod's network namespace. Everything about the redirect lives in the agent;
// this program only decides what it must decide without the agent:
//
//   - a pod siding did not inject passes through untouched (prevResult printed back), and
//     never waits for the agent when the runtime passed the pod's annotations;
//   - an injected pod fails its ADD when the agent cannot be reached or cannot program the
//     redirect, with a message the kubelet shows in the pod's events.
//
// docs/cni.md describes the protocol and every failure mode.
package main

import (
	"github.com/containernetworking/cni/pkg/skel"
	"github.com/containernetworking/cni/pkg/version"
)

// Set at build time (scripts/build-cni-plugin.sh) to siding's version.
var sidingVersion = "dev"

// Chaining needs prevResult, which CNI 0.3.0 introduced; 0.1.0 and 0.2.0 cannot chain.
var supported = version.PluginSupports("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0")

func main() {
	skel.PluginMainFuncs(skel.CNIFuncs{
		Add:    cmdAdd,
		Check:  cmdCheck,
		Del:    cmdDel,
		Status: cmdStatus,
		GC:     cmdGC,
	}, supported, "siding CNI plugin "+sidingVersion+" (chained: programs siding's traffic redirect through the node agent)")
}
