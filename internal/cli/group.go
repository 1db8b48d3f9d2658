package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// seekFileMaxEntries bounds the offsets read from a seek file.
const seekFileMaxEntries = 1 << 20

var errUnknownGroup = errors.New("group does not exist")

func (a *app) groupCommand() *cobra.Command {
	cmd := newGroup("group", "List, describe, seek and delete consumer groups",
		"  gregor group list\n  gregor group describe billing",
		a.groupListCommand(),
		a.groupDescribeCommand(),
		a.groupSeekCommand(),
		a.groupDeleteCommand(),
		a.groupOffsetDeleteCommand(),
	)
	a.addClientFlags(cmd)
	return cmd
}

func groupError(group string, err error) error {
	if errors.Is(err, kerr.GroupIDNotFound) {
		return fmt.Errorf("group %q: %w", group, errUnknownGroup)
	}
	return fmt.Errorf("group %q: %w", group, err)
}

func (a *app) groupListCommand() *cobra.Command {
	var states []string
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List consumer groups",
		Example: "  gregor group list\n  gregor group list --state Stable,Empty",
		Args:    exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				groups, err := adm.ListGroups(ctx, states...)
				if err != nil {
					return a.requestError(ctx, "list groups", err)
				}
				names := groups.Groups()
				sort.Strings(names)
				t := newTable(a.stdout, "GROUP", "STATE", "PROTOCOL-TYPE", "COORDINATOR")
				for _, name := range names {
					g := groups[name]
					t.row(g.Group, g.State, g.ProtocolType, strconv.Itoa(int(g.Coordinator)))
				}
				return t.flush()
			})
		}),
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "only groups in these states (Stable, Empty, ...)")
	return cmd
}

func (a *app) groupDescribeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show a group's members, committed offsets and lag",
		Long: `Show a consumer group: its state and members, and per partition the
committed offset, the HighWatermark and the lag between them.`,
		Example: "  gregor group describe billing",
		Args:    minArgs(1, "GROUP"),
		RunE: action(func(cmd *cobra.Command, groups []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				lags, err := adm.Lag(ctx, groups...)
				if err != nil {
					return a.requestError(ctx, "describe groups", err)
				}
				for i, name := range groups {
					l, ok := lags[name]
					switch {
					case !ok:
						return groupError(name, errors.New("no answer for this group"))
					case l.DescribeErr != nil:
						return groupError(name, l.DescribeErr)
					case l.FetchErr != nil:
						return groupError(name, l.FetchErr)
					case l.State == "Dead" && len(l.Members) == 0 && len(l.Lag) == 0:
						return groupError(name, errUnknownGroup)
					}
					if i > 0 {
						fmt.Fprintln(a.stdout)
					}
					if err := a.printGroup(l); err != nil {
						return err
					}
				}
				return nil
			})
		}),
	}
}

func (a *app) printGroup(l kadm.DescribedGroupLag) error {
	t := newTable(a.stdout)
	t.row("GROUP", l.Group)
	t.row("COORDINATOR", strconv.Itoa(int(l.Coordinator.NodeID)))
	t.row("STATE", l.State)
	t.row("PROTOCOL-TYPE", l.ProtocolType)
	t.row("BALANCER", l.Protocol)
	t.row("MEMBERS", strconv.Itoa(len(l.Members)))
	t.row("TOTAL-LAG", strconv.FormatInt(l.Lag.Total(), 10))
	if err := t.flush(); err != nil {
		return err
	}
	fmt.Fprintln(a.stdout)
	t = newTable(a.stdout, "TOPIC", "PARTITION", "COMMITTED-OFFSET", "HIGH-WATERMARK", "LAG", "MEMBER-ID", "CLIENT-ID", "HOST")
	for _, m := range l.Lag.Sorted() {
		committed, end, lag := "-", "-", "-"
		if m.Commit.At >= 0 {
			committed = strconv.FormatInt(m.Commit.At, 10)
		}
		if m.End.Err == nil {
			end = strconv.FormatInt(m.End.Offset, 10)
		}
		if m.Err == nil && m.Lag >= 0 {
			lag = strconv.FormatInt(m.Lag, 10)
		}
		member, client, host := "", "", ""
		if m.Member != nil {
			member, client, host = m.Member.MemberID, m.Member.ClientID, m.Member.ClientHost
		}
		t.row(m.Topic, strconv.Itoa(int(m.Partition)), committed, end, lag, member, client, host)
	}
	return t.flush()
}

func (a *app) groupSeekCommand() *cobra.Command {
	var (
		to     string
		file   string
		topics []string
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "seek GROUP (--to OFFSET | --to-file FILE)",
		Short: "Set a group's committed offsets",
		Long: `Set the committed offsets of a consumer group that has no active members.

--to moves every partition of the group's topics (or of --topics) to an
offset as for consume -o: start, end, +N, -N, N or @TIME.
--to-file reads lines "TOPIC PARTITION OFFSET" (blank lines and lines
starting with # are skipped) and commits exactly those.`,
		Example: `  gregor group seek billing --to start
  gregor group seek billing --to @-2h --topics orders
  gregor group seek billing --to-file offsets.txt`,
		Args: exactArgs("GROUP"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if (to == "") == (file == "") {
				return usageErrorf("group seek needs exactly one of --to and --to-file")
			}
			if file != "" && len(topics) > 0 {
				return usageErrorf("--topics does not go with --to-file")
			}
			var point offsetPoint
			var fromFile kadm.Offsets
			var err error
			if to != "" {
				if point, err = parseOffsetPoint(to, time.Now()); err != nil {
					return usageErrorf("--to: %v", err)
				}
			} else if fromFile, err = readSeekFile(file); err != nil {
				return err
			}
			adm, done, err := a.admin(cmd)
			if err != nil {
				return err
			}
			defer done()
			if len(topics) > 0 {
				if _, err := a.ensureTopics(cmd, adm, topics...); err != nil {
					return err
				}
			}
			ctx, cancel := a.requestContext(cmd)
			defer cancel()
			described, err := adm.DescribeGroups(ctx, group)
			if err != nil {
				return a.requestError(ctx, "describe group", err)
			}
			if d, ok := described[group]; ok && d.Err == nil && len(d.Members) > 0 {
				return groupError(group, fmt.Errorf("has %d active member(s); stop them before seeking", len(d.Members)))
			}
			prior, err := adm.FetchOffsets(ctx, group)
			if errors.Is(err, kerr.GroupIDNotFound) {
				prior, err = nil, nil // seeking creates the group's offsets
			}
			if err != nil {
				return a.requestError(ctx, "fetch offsets", groupError(group, err))
			}
			target := fromFile
			if to != "" {
				if len(topics) == 0 {
					topics = prior.Partitions().Topics()
				}
				if len(topics) == 0 {
					return groupError(group, errors.New("has no committed offsets: name the topics with --topics"))
				}
				if target, err = a.seekTargets(cmd, adm, topics, point); err != nil {
					return err
				}
			}
			if !dryRun {
				resps, err := adm.CommitOffsets(ctx, group, target)
				if err != nil {
					return a.requestError(ctx, "commit offsets", groupError(group, err))
				}
				return a.printSeek(group, prior, target, resps)
			}
			return a.printSeek(group, prior, target, nil)
		}),
	}
	fs := cmd.Flags()
	fs.StringVar(&to, "to", "", "offset to seek every partition to")
	fs.StringVar(&file, "to-file", "", `file of "TOPIC PARTITION OFFSET" lines`)
	fs.StringSliceVar(&topics, "topics", nil, "topics to seek (default: those the group has committed offsets for)")
	fs.BoolVar(&dryRun, "dry-run", false, "show the new offsets; commit nothing")
	return cmd
}

func (a *app) seekTargets(cmd *cobra.Command, adm *kadm.Client, topics []string, point offsetPoint) (kadm.Offsets, error) {
	details, err := a.ensureTopics(cmd, adm, topics...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := a.requestContext(cmd)
	defer cancel()
	var out kadm.Offsets
	for _, t := range topics {
		parts := details[t].Partitions.Numbers()
		resolved, err := resolveOffsets(ctx, adm, t, parts, point)
		if err != nil {
			return nil, a.requestError(ctx, "list offsets", err)
		}
		for _, p := range parts {
			out.Add(kadm.Offset{Topic: t, Partition: p, At: resolved[p][0], LeaderEpoch: -1})
		}
	}
	return out, nil
}

// readSeekFile parses "TOPIC PARTITION OFFSET" lines.
func readSeekFile(path string) (kadm.Offsets, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageErrorf("--to-file: %v", err)
	}
	defer f.Close()
	var out kadm.Offsets
	n, entries := 0, 0
	sc := bufio.NewScanner(f) // lines are bounded by the scanner's 64 KiB
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := strings.Fields(line)
		if len(fields) != 3 {
			return nil, usageErrorf("%s:%d: want TOPIC PARTITION OFFSET", path, n)
		}
		p, err1 := strconv.ParseInt(fields[1], 10, 32)
		o, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || o < 0 {
			return nil, usageErrorf("%s:%d: bad partition or offset", path, n)
		}
		if entries++; entries > seekFileMaxEntries {
			return nil, usageErrorf("%s: more than %d offsets", path, seekFileMaxEntries)
		}
		out.Add(kadm.Offset{Topic: fields[0], Partition: int32(p), At: o, LeaderEpoch: -1})
	}
	if err := sc.Err(); err != nil {
		return nil, usageErrorf("%s: %v", path, err)
	}
	if entries == 0 {
		return nil, usageErrorf("%s: no offsets", path)
	}
	return out, nil
}

func (a *app) printSeek(group string, prior kadm.OffsetResponses, target kadm.Offsets, resps kadm.OffsetResponses) error {
	t := newTable(a.stdout, "TOPIC", "PARTITION", "PRIOR-OFFSET", "NEW-OFFSET", "STATUS")
	var failed []error
	total := 0
	for _, o := range target.Sorted() {
		total++
		old := "-"
		if p, ok := prior.Lookup(o.Topic, o.Partition); ok && p.Err == nil && p.At >= 0 {
			old = strconv.FormatInt(p.At, 10)
		}
		st := "DRY-RUN"
		if resps != nil {
			r, ok := resps.Lookup(o.Topic, o.Partition)
			err := r.Err
			if !ok {
				err = errors.New("no answer")
			}
			if err != nil {
				failed = append(failed, groupError(group, fmt.Errorf("%s partition %d: %w", o.Topic, o.Partition, err)))
			}
			st = status(err)
		}
		t.row(o.Topic, strconv.Itoa(int(o.Partition)), old, strconv.FormatInt(o.At, 10), st)
	}
	if err := t.flush(); err != nil {
		return err
	}
	return resultsError("offsets", total, failed)
}

func (a *app) groupDeleteCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "delete GROUP...",
		Aliases: []string{"rm"},
		Short:   "Delete consumer groups that have no active members",
		Example: "  gregor group delete billing",
		Args:    minArgs(1, "GROUP"),
		RunE: action(func(cmd *cobra.Command, groups []string) error {
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				resps, err := adm.DeleteGroups(ctx, groups...)
				if err != nil {
					return a.requestError(ctx, "delete groups", err)
				}
				got := answers(resps, func(r kadm.DeleteGroupResponse) answer { return answer{r.Err, r.ErrMessage} })
				return a.printStatuses(groups, got, statusTable{noun: "GROUP", missing: "no answer", named: groupError})
			})
		}),
	}
}

func (a *app) groupOffsetDeleteCommand() *cobra.Command {
	var topics []string
	cmd := &cobra.Command{
		Use:   "offset-delete GROUP --topic TOPIC[:PARTITION,...]...",
		Short: "Delete a group's committed offsets for some topics or partitions",
		Example: `  gregor group offset-delete billing --topic orders
  gregor group offset-delete billing --topic orders:0,1 --topic payments`,
		Args: exactArgs("GROUP"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			group := args[0]
			if len(topics) == 0 {
				return usageErrorf("offset-delete needs --topic")
			}
			want := kadm.TopicsSet{}
			var wholeTopics []string
			for _, spec := range topics {
				name, parts, err := parseTopicPartitions(spec)
				if err != nil {
					return err
				}
				if len(parts) == 0 {
					wholeTopics = append(wholeTopics, name)
					continue
				}
				want.Add(name, parts...)
			}
			return a.withAdmin(cmd, func(ctx context.Context, adm *kadm.Client) error {
				if len(wholeTopics) > 0 {
					committed, err := adm.FetchOffsetsForTopics(ctx, group, wholeTopics...)
					if err != nil {
						return a.requestError(ctx, "fetch offsets", groupError(group, err))
					}
					committed.Each(func(o kadm.OffsetResponse) {
						if o.Err == nil && o.At >= 0 {
							want.Add(o.Topic, o.Partition)
						}
					})
				}
				if len(want) == 0 {
					return groupError(group, errors.New("has no committed offsets for those topics"))
				}
				resps, err := adm.DeleteOffsets(ctx, group, want)
				if err != nil {
					return a.requestError(ctx, "delete offsets", groupError(group, err))
				}
				t := newTable(a.stdout, "TOPIC", "PARTITION", "STATUS")
				var failed []error
				total := 0
				for _, tp := range want.Sorted() {
					for _, p := range tp.Partitions {
						total++
						err, ok := resps.Lookup(tp.Topic, p)
						if !ok {
							err = errors.New("no answer")
						}
						if err != nil {
							failed = append(failed, groupError(group, fmt.Errorf("%s partition %d: %w", tp.Topic, p, err)))
						}
						t.row(tp.Topic, strconv.Itoa(int(p)), status(err))
					}
				}
				if err := t.flush(); err != nil {
					return err
				}
				return resultsError("offsets", total, failed)
			})
		}),
	}
	cmd.Flags().StringArrayVar(&topics, "topic", nil, "TOPIC or TOPIC:P,P,... whose offsets to delete (repeatable)")
	return cmd
}

// parseTopicPartitions parses "topic" or "topic:0,1,2".
func parseTopicPartitions(spec string) (string, []int32, error) {
	name, list, hasList := strings.Cut(spec, ":")
	if name == "" {
		return "", nil, usageErrorf("--topic %q: empty topic", spec)
	}
	if !hasList {
		return name, nil, nil
	}
	var parts []int32
	for _, s := range strings.Split(list, ",") {
		p, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
		if err != nil || p < 0 {
			return "", nil, usageErrorf("--topic %q: bad partition %q", spec, s)
		}
		parts = append(parts, int32(p))
	}
	return name, parts, nil
}
