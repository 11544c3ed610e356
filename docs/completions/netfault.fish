function __netfault_should_offer_completions_for_flags_or_options -a expected_commands
    set -l non_repeating_flags_or_options $argv[2..]
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __netfault_parse_tokens
    test "$commands" = "$expected_commands"; and return $non_repeating_flags_or_options_absent
end

function __netfault_should_offer_completions_for_positional -a expected_commands positional_index_comparison expected_positional_index
    set -l non_repeating_flags_or_options
    set -l non_repeating_flags_or_options_absent 0
    set -l positional_index 0
    set -l commands
    __netfault_parse_tokens
    test "$commands" = "$expected_commands" -a \( "$positional_index" "$positional_index_comparison" "$expected_positional_index" \)
end

function __netfault_parse_tokens -S
    set -l unparsed_tokens (__netfault_tokens -pc)
    switch $unparsed_tokens[1]
    case 'netfault'
        __netfault_parse_subcommand 0 'version' 'h/help'
        switch $unparsed_tokens[1]
        case 'apply'
            __netfault_parse_subcommand 1 'host=' 'peer=+' 'iface=' 'direction=' 'server=' 'delay=' 'jitter=' 'delay-correlation=' 'distribution=' 'loss=' 'loss-correlation=' 'duplicate=' 'corrupt=' 'reorder=' 'gap=' 'rate=' 'limit=' 'connect-delay=' 'slow-close=' 'blackhole' 'reject' 'reset' 'hang' 'loss-nft=' 'connections=' 'reset-after=' 'hang-after=' 'limit-data=' 'limit-data-action=' 'slice=' 'uid=' 'cgroup=' 'netns=' 'netns-pid=' 'for=' 'json' 'foreground' 'dry-run' 'version' 'h/help'
        case 'run'
            __netfault_parse_subcommand -r 2 'host=' 'peer=+' 'iface=' 'direction=' 'server=' 'delay=' 'jitter=' 'delay-correlation=' 'distribution=' 'loss=' 'loss-correlation=' 'duplicate=' 'corrupt=' 'reorder=' 'gap=' 'rate=' 'limit=' 'connect-delay=' 'slow-close=' 'blackhole' 'reject' 'reset' 'hang' 'loss-nft=' 'connections=' 'reset-after=' 'hang-after=' 'limit-data=' 'limit-data-action=' 'slice=' 'uid=' 'cgroup=' 'netns=' 'netns-pid=' 'for=' 'expect-traffic' 'as-root' 'after=' 'every=' 'on=' 'scope=' 'dry-run' 'version' 'h/help'
        case 'status'
            __netfault_parse_subcommand 0 'json' 'netns=' 'netns-pid=' 'all-namespaces' 'version' 'h/help'
        case 'revert'
            __netfault_parse_subcommand -r 1 'all' 'all-namespaces' 'json' 'netns=' 'netns-pid=' 'version' 'h/help'
        case 'doctor'
            __netfault_parse_subcommand 0 'json' 'version' 'h/help'
        case 'serve'
            __netfault_parse_subcommand -r 1 'version' 'h/help'
        case 'matrix'
            __netfault_parse_subcommand -r 1 'version' 'h/help'
        case 'help'
            __netfault_parse_subcommand -r 1 'version'
        end
    end
end

function __netfault_tokens
    if test (string split -m 1 -f 1 -- . "$FISH_VERSION") -gt 3
        commandline --tokens-raw $argv
    else
        commandline -o $argv
    end
end

function __netfault_parse_subcommand -S -a positional_count
    argparse -s r -- $argv
    set -l option_specs $argv[2..]
    set -l is_repeating_positional $_flag_r
    set -el _flag_r
    set -a commands $unparsed_tokens[1]
    set positional_index 0
    while true
        set -e unparsed_tokens[1]
        argparse -sn "$commands" $option_specs -- $unparsed_tokens 2> /dev/null
        set unparsed_tokens $argv
        set positional_index (math $positional_index + 1)
        for non_repeating_flag_or_option in $non_repeating_flags_or_options
            if set -ql "_flag_$(string replace -a - _ -- $non_repeating_flag_or_option)"
                set non_repeating_flags_or_options_absent 1
                break
            end
        end
        test (count $unparsed_tokens) -eq 0 -o \( -z "$is_repeating_positional" -a "$positional_index" -gt "$positional_count" \) && break
    end
end

function __netfault_complete_directories
    set -l token (commandline -t)
    string match -- '*/' $token
    set -l subdirs $token*/
    printf %s\n $subdirs
end

function __netfault_custom_completion
    set -x SAP_SHELL fish
    set -x SAP_SHELL_VERSION $FISH_VERSION
    set -l tokens (__netfault_tokens -p)
    if test -z "$(__netfault_tokens -t)"
        set -l index (count (__netfault_tokens -pc))
        set tokens $tokens[..$index] \'\' $tokens[(math $index + 1)..]
    end
    command $tokens[1] $argv $tokens
end

complete -c 'netfault' -f
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'apply' -d 'Put faults on a service\'s traffic, under a lease that reverts itself.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'run' -d 'Run a command with faults in force, and revert them when it ends.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'status' -d 'List active leases, their faults, time left and the kernel objects they own.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'revert' -d 'Remove the faults of the given leases (or --all); exits 0 when none is left.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'doctor' -d 'Check which kernel features netfault can use here.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'serve' -d 'Serve Toxiproxy\'s HTTP API, with toxics as kernel faults or in a built-in proxy.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'matrix' -d 'Run a command under each fault, through the kernel and through a proxy, and report.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_positional "netfault" -eq 1' -fa 'help' -d 'Show subcommand help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" host' -l 'host' -d 'Only traffic to/from this server address (IPv4 or IPv6). Without it every address matches.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply"' -l 'peer' -d 'Only traffic between this host and these server address blocks (CIDR, repeatable), e.g. for partitions between named hosts. --host is the same for one address.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" iface' -l 'iface' -d 'Device for netem faults. Default: the one the kernel routes --host (or every --peer block) through, else lo. Connection faults match on every device.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" direction' -l 'direction' -d 'to-server: packets whose destination port is the target (requests; a round trip grows by the delay once). from-server: packets whose source port is the target (responses; incoming for a remote server, shaped through an ifb device). both: either way.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" server' -l 'server' -d 'local: the server runs in this network namespace (a sidecar container sharing the service\'s), so its requests are caught arriving and its responses leaving, from clients on other hosts too. remote: the server is elsewhere; requests are caught leaving. Default: local when something here listens on a target port and neither --host nor --peer is given.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" delay' -l 'delay' -d 'Add this delay to every matched packet (us, ms, s), e.g. 100ms.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" jitter' -l 'jitter' -d 'Vary the delay by up to this much (needs --delay).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" delay-correlation' -l 'delay-correlation' -d 'How much each jitter value depends on the last (needs --jitter).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" distribution' -l 'distribution' -d 'Shape of the jitter: normal, pareto or paretonormal (needs --delay and --jitter).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" loss' -l 'loss' -d 'Drop this share of matched packets, e.g. 5%.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" loss-correlation' -l 'loss-correlation' -d 'How much each loss decision depends on the last (needs --loss); makes bursts.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" duplicate' -l 'duplicate' -d 'Send this share of matched packets twice.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" corrupt' -l 'corrupt' -d 'Flip a random bit in this share of matched packets.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" reorder' -l 'reorder' -d 'Send this share of packets at once while the rest wait the delay (needs --delay).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" gap' -l 'gap' -d 'Reorder every Nth packet instead of at random (needs --reorder).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" rate' -l 'rate' -d 'Limit matched traffic to this rate: kbit, mbit, gbit (bits) or kbps, mbps (bytes).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" limit' -l 'limit' -d 'The most packets netem\'s queue holds at once (delayed, rate-limited or waiting to be reordered); a packet that finds it full is dropped. Default: room for 100,000 packets a second (a busy client on loopback) over the delay plus jitter, and for --rate over the same time, at least 1000 (tc\'s default) and at most 1000000. The limit only caps the queue; memory goes to the packets actually in it. Needs a netem fault.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" connect-delay' -l 'connect-delay' -d 'Hold back each new connection\'s one handshake packet that leaves this host (the client\'s SYN to a remote server, a local server\'s SYN-ACK) this long: connect() takes that much longer, once, and the connection\'s round trips do not change (a slow accept queue). Needs nf_tables. E.g. 300ms.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" slow-close' -l 'slow-close' -d 'Hold back the FINs leaving this host in --direction this long (Toxiproxy\'s slow_close): the peer reads EOF that much after the close, the data before it on time. from-server: a local server\'s FINs; to-server: the client\'s. Needs nf_tables. E.g. 1s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" blackhole' -l 'blackhole' -d 'Drop matched packets silently: connect times out, open connections stall (a pulled cable, a dead host).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" reject' -l 'reject' -d 'Answer new connections with a TCP reset: connect fails at once with ECONNREFUSED; open connections keep working (a stopped server).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" reset' -l 'reset' -d 'Answer every matched packet with a TCP reset: open connections fail with ECONNRESET on their next send, new ones are refused (a crashed server).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" hang' -l 'hang' -d 'Let the TCP handshake through, then drop everything else: connect succeeds, then nothing arrives (a hung server).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" loss-nft' -l 'loss-nft' -d 'Drop this share of matched packets in netfilter, for kernels without netem, e.g. 5%.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" connections' -l 'connections' -d 'Only this share of new connections meets the lease\'s faults: P% (about P in 100, drawn at random) or every:N (the Nth, 2Nth, ... new connection, counted per address family). Each connection is drawn once, at its SYN, and keeps its lot for its life; connections open before the lease are left alone. Netem faults take the drawn connections\' packets leaving this host (nf_tables steers them; not a remote server\'s responses). A mix gives each of up to 4 connection faults a share of its own, without --blackhole, --reject, --reset or --hang and without netem faults: 30%:reject,10%:hang refuses about 30% of new connections, hangs about 10% others and leaves the rest alone; no connection is in two groups.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" reset-after' -l 'reset-after' -d 'Reset each connection at its first packet more than this after its first (its SYN), on its own clock (Toxiproxy\'s reset_peer with a timeout): the client\'s next send fails with ECONNRESET. An idle connection is reset at its next packet. Connections open before the lease are left alone. With --hang, no data passes and the connection is reset at its first packet past the time (Toxiproxy\'s timeout with a time); a hung client sends only TCP\'s resends (0.2, 0.6, 1.4, 3 s... after its data), so its reset can come up to that much late. E.g. 2s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" hang-after' -l 'hang-after' -d 'Drop each connection\'s packets from this long after its first on (Toxiproxy\'s timeout, per connection): it goes silent and the client\'s reads time out. E.g. 5s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" limit-data' -l 'limit-data' -d 'Reset each connection once the server has sent it more than this many bytes (IP packets, headers included; Toxiproxy\'s limit_data): the client gets a TCP reset in place of the server\'s next segment. E.g. 4096 or 64KiB.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" limit-data-action' -l 'limit-data-action' -d 'What a connection over its --limit-data meets: reset (the default) or close (the server\'s packets are dropped from then on, and the client hears nothing more).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" slice' -l 'slice' -d 'Set the MSS option of each new connection\'s SYN to this many bytes, so the server sends segments of at most that much payload (Toxiproxy\'s slicer, approximated): 64 to 1400. Linux sends no segment under 48 bytes (tcp_min_snd_mss) and timestamps take 12 of each.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" uid' -l 'uid' -d 'Only connections opened by sockets this user owns (a number or a name), e.g. a test runner\'s user. The choice is made at a connection\'s first packet leaving this host and holds both ways for its life; connections open before the lease, and ones from other hosts, are left alone.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" cgroup' -l 'cgroup' -d 'Only connections opened by processes in this cgroup v2 or below it: a path as /proc/PID/cgroup\'s 0:: line shows it (e.g. /system.slice/ci.service) or its directory under the cgroup2 mount. Chosen like --uid\'s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" netns' -l 'netns' -d 'Work in this named network namespace (as `ip netns list` shows it, under /run/netns).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" netns-pid' -l 'netns-pid' -d 'Work in the network namespace of this process (e.g. a container\'s).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" for' -l 'for' -d 'How long the lease lasts (at most 24h).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" json' -l 'json' -d 'Print the lease as JSON.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" foreground' -l 'foreground' -d 'Stay in the foreground holding the lease until its deadline or SIGTERM, SIGINT or SIGHUP, then revert and exit 0 (a sidecar container\'s main process).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" dry-run' -l 'dry-run' -d 'Print the tc, ip and nft commands that make the same change, and change nothing.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault apply" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" host' -l 'host' -d 'Only traffic to/from this server address (IPv4 or IPv6). Without it every address matches.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run"' -l 'peer' -d 'Only traffic between this host and these server address blocks (CIDR, repeatable), e.g. for partitions between named hosts. --host is the same for one address.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" iface' -l 'iface' -d 'Device for netem faults. Default: the one the kernel routes --host (or every --peer block) through, else lo. Connection faults match on every device.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" direction' -l 'direction' -d 'to-server: packets whose destination port is the target (requests; a round trip grows by the delay once). from-server: packets whose source port is the target (responses; incoming for a remote server, shaped through an ifb device). both: either way.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" server' -l 'server' -d 'local: the server runs in this network namespace (a sidecar container sharing the service\'s), so its requests are caught arriving and its responses leaving, from clients on other hosts too. remote: the server is elsewhere; requests are caught leaving. Default: local when something here listens on a target port and neither --host nor --peer is given.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" delay' -l 'delay' -d 'Add this delay to every matched packet (us, ms, s), e.g. 100ms.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" jitter' -l 'jitter' -d 'Vary the delay by up to this much (needs --delay).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" delay-correlation' -l 'delay-correlation' -d 'How much each jitter value depends on the last (needs --jitter).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" distribution' -l 'distribution' -d 'Shape of the jitter: normal, pareto or paretonormal (needs --delay and --jitter).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" loss' -l 'loss' -d 'Drop this share of matched packets, e.g. 5%.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" loss-correlation' -l 'loss-correlation' -d 'How much each loss decision depends on the last (needs --loss); makes bursts.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" duplicate' -l 'duplicate' -d 'Send this share of matched packets twice.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" corrupt' -l 'corrupt' -d 'Flip a random bit in this share of matched packets.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" reorder' -l 'reorder' -d 'Send this share of packets at once while the rest wait the delay (needs --delay).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" gap' -l 'gap' -d 'Reorder every Nth packet instead of at random (needs --reorder).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" rate' -l 'rate' -d 'Limit matched traffic to this rate: kbit, mbit, gbit (bits) or kbps, mbps (bytes).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" limit' -l 'limit' -d 'The most packets netem\'s queue holds at once (delayed, rate-limited or waiting to be reordered); a packet that finds it full is dropped. Default: room for 100,000 packets a second (a busy client on loopback) over the delay plus jitter, and for --rate over the same time, at least 1000 (tc\'s default) and at most 1000000. The limit only caps the queue; memory goes to the packets actually in it. Needs a netem fault.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" connect-delay' -l 'connect-delay' -d 'Hold back each new connection\'s one handshake packet that leaves this host (the client\'s SYN to a remote server, a local server\'s SYN-ACK) this long: connect() takes that much longer, once, and the connection\'s round trips do not change (a slow accept queue). Needs nf_tables. E.g. 300ms.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" slow-close' -l 'slow-close' -d 'Hold back the FINs leaving this host in --direction this long (Toxiproxy\'s slow_close): the peer reads EOF that much after the close, the data before it on time. from-server: a local server\'s FINs; to-server: the client\'s. Needs nf_tables. E.g. 1s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" blackhole' -l 'blackhole' -d 'Drop matched packets silently: connect times out, open connections stall (a pulled cable, a dead host).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" reject' -l 'reject' -d 'Answer new connections with a TCP reset: connect fails at once with ECONNREFUSED; open connections keep working (a stopped server).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" reset' -l 'reset' -d 'Answer every matched packet with a TCP reset: open connections fail with ECONNRESET on their next send, new ones are refused (a crashed server).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" hang' -l 'hang' -d 'Let the TCP handshake through, then drop everything else: connect succeeds, then nothing arrives (a hung server).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" loss-nft' -l 'loss-nft' -d 'Drop this share of matched packets in netfilter, for kernels without netem, e.g. 5%.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" connections' -l 'connections' -d 'Only this share of new connections meets the lease\'s faults: P% (about P in 100, drawn at random) or every:N (the Nth, 2Nth, ... new connection, counted per address family). Each connection is drawn once, at its SYN, and keeps its lot for its life; connections open before the lease are left alone. Netem faults take the drawn connections\' packets leaving this host (nf_tables steers them; not a remote server\'s responses). A mix gives each of up to 4 connection faults a share of its own, without --blackhole, --reject, --reset or --hang and without netem faults: 30%:reject,10%:hang refuses about 30% of new connections, hangs about 10% others and leaves the rest alone; no connection is in two groups.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" reset-after' -l 'reset-after' -d 'Reset each connection at its first packet more than this after its first (its SYN), on its own clock (Toxiproxy\'s reset_peer with a timeout): the client\'s next send fails with ECONNRESET. An idle connection is reset at its next packet. Connections open before the lease are left alone. With --hang, no data passes and the connection is reset at its first packet past the time (Toxiproxy\'s timeout with a time); a hung client sends only TCP\'s resends (0.2, 0.6, 1.4, 3 s... after its data), so its reset can come up to that much late. E.g. 2s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" hang-after' -l 'hang-after' -d 'Drop each connection\'s packets from this long after its first on (Toxiproxy\'s timeout, per connection): it goes silent and the client\'s reads time out. E.g. 5s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" limit-data' -l 'limit-data' -d 'Reset each connection once the server has sent it more than this many bytes (IP packets, headers included; Toxiproxy\'s limit_data): the client gets a TCP reset in place of the server\'s next segment. E.g. 4096 or 64KiB.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" limit-data-action' -l 'limit-data-action' -d 'What a connection over its --limit-data meets: reset (the default) or close (the server\'s packets are dropped from then on, and the client hears nothing more).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" slice' -l 'slice' -d 'Set the MSS option of each new connection\'s SYN to this many bytes, so the server sends segments of at most that much payload (Toxiproxy\'s slicer, approximated): 64 to 1400. Linux sends no segment under 48 bytes (tcp_min_snd_mss) and timestamps take 12 of each.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" uid' -l 'uid' -d 'Only connections opened by sockets this user owns (a number or a name), e.g. a test runner\'s user. The choice is made at a connection\'s first packet leaving this host and holds both ways for its life; connections open before the lease, and ones from other hosts, are left alone.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" cgroup' -l 'cgroup' -d 'Only connections opened by processes in this cgroup v2 or below it: a path as /proc/PID/cgroup\'s 0:: line shows it (e.g. /system.slice/ci.service) or its directory under the cgroup2 mount. Chosen like --uid\'s.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" netns' -l 'netns' -d 'Work in this named network namespace (as `ip netns list` shows it, under /run/netns).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" netns-pid' -l 'netns-pid' -d 'Work in the network namespace of this process (e.g. a container\'s).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" for' -l 'for' -d 'The longest the faults stay, even if the command runs on (at most 24h).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" expect-traffic' -l 'expect-traffic' -d 'Exit 65 when the faults matched no packet, whatever the command\'s status (a test that proved nothing).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" as-root' -l 'as-root' -d 'Under sudo, run the command as root instead of the invoking user.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" after' -l 'after' -d 'Start the command first and put the faults in this much later.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" every' -l 'every' -d 'Flap: put the faults in once every this long (with --on), for transient outages.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" on' -l 'on' -d 'With --every: how long the faults stay in each time (100ms or more, and 100ms less than --every).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" scope' -l 'scope' -d 'command: the faults take only the connections the command and the processes it starts open (both ways; netem faults too, on packets leaving this host), not other processes\' connections to the same server: two runs at once each see their own faults. The command runs in a cgroup v2 made for it, netfault-run-PID (run\'s pid) below netfault\'s own cgroup, which is ended (cgroup.kill) and removed with the lease, by the watchdog if netfault is killed. Needs a writable cgroup2 mount. Not with --uid or --cgroup, nor with --after or --every (exit 64): a scoped lease takes only connections opened after it goes in, and one put in while the command runs would miss those it holds.' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" dry-run' -l 'dry-run' -d 'Print the tc, ip and nft commands that would put the faults in, and neither change anything nor run the command.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault run" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault status" json' -l 'json' -d 'Print the leases as JSON.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault status" netns' -l 'netns' -d 'Work in this named network namespace (as `ip netns list` shows it, under /run/netns).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault status" netns-pid' -l 'netns-pid' -d 'Work in the network namespace of this process (e.g. a container\'s).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault status" all-namespaces' -l 'all-namespaces' -d 'List the leases of every network namespace, not only this one\'s (or --netns\'s).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault status" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault status" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault revert" all' -l 'all' -d 'Revert every lease of this network namespace (or --netns\'s).'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault revert" all-namespaces' -l 'all-namespaces' -d 'With --all: every lease, whatever its namespace.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault revert" json' -l 'json' -d 'Print what was reverted as JSON.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault revert" netns' -l 'netns' -d 'Work in this named network namespace (as `ip netns list` shows it, under /run/netns).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault revert" netns-pid' -l 'netns-pid' -d 'Work in the network namespace of this process (e.g. a container\'s).' -rfka ''
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault revert" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault revert" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault doctor" json' -l 'json' -d 'Print the results as JSON.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault doctor" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault doctor" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault serve" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault serve" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault matrix" version' -l 'version' -d 'Show the version.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault matrix" h help' -s 'h' -l 'help' -d 'Show help information.'
complete -c 'netfault' -n '__netfault_should_offer_completions_for_flags_or_options "netfault help" version' -l 'version' -d 'Show the version.'
