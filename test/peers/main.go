// istio-iptables, built from the istio.io/istio module pinned in go.mod: the peer that
// test/integration/init-differential.test.ts and bench/init.ts compare `siding init` with.
// Built by scripts/build-peers.sh into a cache outside the clone; never shipped.
package main

import (
	"os"

	"istio.io/istio/pkg/log"
	"istio.io/istio/tools/istio-iptables/pkg/cmd"
)

func main() {
	opts := log.DefaultOptions()
	c := cmd.GetCommand(opts)
	opts.AttachCobraFlags(c)
	if err := c.Execute(); err != nil {
		os.Exit(1)
	}
}
