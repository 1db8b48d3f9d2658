package cli

import (
	"fmt"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clusterUnregisterCommand removes a broker that is gone for good
// (UnregisterBroker, API 64): it answers the operator's question "the
// machine is dead, how do I make the cluster forget it?".
func (a *app) clusterUnregisterCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "unregister NODE-ID",
		Short: "Forget a broker that is gone for good",
		Long: `Remove a broker's registration: the controller fences it (its leaderships
move to other in-sync replicas), Metadata and new topics stop naming it, and
a Raft learner also leaves the metadata quorum (voters are configuration and
stay). Its partitions keep it as a replica until you reassign them
(gregor topic reassign). Stop the broker first: a running broker registers
again at its next heartbeat.`,
		Example: "  gregor cluster unregister 4",
		Args:    exactArgs("NODE-ID"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 32)
			if err != nil || id < 0 {
				return usageErrorf("NODE-ID must be a node id (an integer >= 0), got %q", args[0])
			}
			cl, err := a.client(cmd)
			if err != nil {
				return err
			}
			defer cl.Close()
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			req := kmsg.NewPtrUnregisterBrokerRequest()
			req.BrokerID = int32(id)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				return a.requestError(ctx, "unregister broker", err)
			}
			if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
				msg := err.Error()
				if resp.ErrorMessage != nil {
					msg = *resp.ErrorMessage
				}
				return fmt.Errorf("unregister broker %d: %s", id, msg)
			}
			fmt.Fprintf(a.stdout, "broker %d unregistered\n", id)
			return nil
		}),
	}
}
