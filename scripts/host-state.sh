# Recording a host's network state before a Docker engine starts, and putting it back after.
#
# Sourced by container-test.sh (and by its tests). Besides its own folders, dockerd changes the
# host: a bridge per network, firewall tables, chains and rules, IP forwarding. record_host
# writes them to a folder before the engine starts; restore_host undoes what changed since, and
# host_changes lists what still differs (nothing, when the host is as it was).
#
# The record, one file each:
#   links       the engine-made interfaces (docker0, br-*, veth*)
#   iptables    iptables-save without counters and comments; empty when the rules are empty
#   ip6tables   the same for ip6tables-save; a missing save command counts as no rules
#   nft-tables  `nft list tables` as "FAMILY NAME" lines; only when nft is installed, so a
#               record without it never deletes a table
#   ip_forward  written last: a record without it is incomplete and restores nothing
# A firewall that is there but cannot be read fails record_host, which then writes no
# ip_forward: an engine started without a record could not be undone.

lines() { # lines TEXT: TEXT with a final newline, or nothing at all when TEXT is empty
    [ -z "$1" ] || printf '%s\n' "$1"
}

bridges() { # the network interfaces an engine makes, one per line
    ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print $2}' |
        { grep -E '^(docker0|br-[0-9a-f]{12}|veth[0-9a-f]+)$' || true; } | LC_ALL=C sort
}

firewall() { # firewall SAVE-COMMAND: the rule set, without counters and comments
    # Nothing when the command is missing; fails, saying why, when it cannot read the rules.
    command -v "$1" >/dev/null 2>&1 || return 0
    local out err status=0
    err=$(mktemp)
    out=$("$1" 2>"$err") || status=$?
    if [ $status -ne 0 ]; then
        echo "$1 cannot read the firewall (exit $status): $(head -n 1 "$err")" >&2
        rm -f "$err"
        return 1
    fi
    rm -f "$err"
    lines "$out" | sed -e '/^#/d' -e 's/ \[[0-9]*:[0-9]*\]$//'
}

nft_tables() { # the nf_tables tables as "FAMILY NAME", sorted; fails when they cannot be read
    local out
    out=$(nft list tables 2>&1) || {
        echo "nft cannot list the tables: $(lines "$out" | head -n 1)" >&2
        return 1
    }
    lines "$out" | awk '$1 == "table" {print $2, $3}' | LC_ALL=C sort
}

record_host() { # record_host DIR
    local dir=$1
    mkdir -p "$dir"
    rm -f "$dir/ip_forward"
    bridges >"$dir/links"
    firewall iptables-save >"$dir/iptables" || return 1
    firewall ip6tables-save >"$dir/ip6tables" || return 1
    if command -v nft >/dev/null 2>&1; then
        nft_tables >"$dir/nft-tables" || return 1
    fi
    cat /proc/sys/net/ipv4/ip_forward >"$dir/ip_forward"
}

firewall_changes() { # firewall_changes BEFORE NOW: what undoes NOW back to BEFORE, one per line:
    # D table rule (newest first), F table chain, X table chain, P table chain policy
    awk -v OFS='\t' '
        { part = FILENAME == ARGV[1] ? 1 : 2 }
        /^\*/ { table = substr($0, 2); next }
        /^:/ {
            name = substr($1, 2)
            if (part == 1) policy[table, name] = $2
            else if (!((table, name) in policy)) {
                # a new chain, or a built-in one of a table that was not loaded before
                if ($2 == "-") added[++chains] = table OFS name
                else if ($2 != "ACCEPT") reset[++resets] = table OFS name " ACCEPT"
            }
            else if ($2 != "-" && policy[table, name] != $2) reset[++resets] = table OFS name " " policy[table, name]
            next
        }
        /^-A / {
            if (part == 1) had[table, $0] = 1
            else if (!((table, $0) in had)) rules[++count] = table OFS substr($0, 4)
        }
        END {
            for (i = count; i >= 1; i--) print "D", rules[i]
            for (i = 1; i <= chains; i++) print "F", added[i]
            for (i = 1; i <= chains; i++) print "X", added[i]
            for (i = 1; i <= resets; i++) print "P", reset[i]
        }' "$1" "$2"
}

undo_firewall() { # undo_firewall TOOL BEFORE-FILE: remove the rules and chains added since
    # An empty BEFORE-FILE is a record too: of a firewall with no rules at all.
    local tool=$1 before=$2 now action table rest
    [ -f "$before" ] && command -v "$tool" >/dev/null 2>&1 || return 0
    now=$(firewall "$tool-save") || return 0
    firewall_changes "$before" <(lines "$now") | while IFS=$'\t' read -r action table rest; do
        case $action in
            # iptables-save quotes its arguments the way a shell reads them.
            D) eval "\"\$tool\" -w -t \"\$table\" -D $rest" ;;
            F | X) "$tool" -w -t "$table" "-$action" "$rest" ;;
            P) read -r -a policy <<<"$rest" && "$tool" -w -t "$table" -P "${policy[@]}" ;;
        esac
    done 2>/dev/null || true
}

new_nft_tables() { # new_nft_tables BEFORE-FILE: the tables that were not there when recorded
    local now
    now=$(nft_tables) || return 1
    LC_ALL=C comm -13 "$1" <(lines "$now")
}

undo_nft_tables() { # undo_nft_tables BEFORE-FILE: delete whole tables made since the record
    # With the nft backend, removing iptables rules and chains leaves their tables loaded.
    local family name
    [ -f "$1" ] && command -v nft >/dev/null 2>&1 || return 0
    new_nft_tables "$1" 2>/dev/null | while read -r family name; do
        nft delete table "$family" "$name" 2>/dev/null || true
    done
}

restore_host() { # restore_host DIR: undo what an engine changed since record_host DIR
    local dir=$1 link
    [ -f "$dir/ip_forward" ] || return 0
    LC_ALL=C comm -13 "$dir/links" <(bridges) | while read -r link; do
        ip link delete "$link" 2>/dev/null || true
    done
    undo_nft_tables "$dir/nft-tables"
    undo_firewall iptables "$dir/iptables"
    undo_firewall ip6tables "$dir/ip6tables"
    if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != "$(cat "$dir/ip_forward")" ]; then
        cat "$dir/ip_forward" >/proc/sys/net/ipv4/ip_forward
    fi
}

host_changes() { # host_changes DIR: what differs from the record, empty when nothing
    local dir=$1 tool now
    if [ ! -f "$dir/ip_forward" ]; then
        echo "no complete record of the host in $dir"
        return 0
    fi
    LC_ALL=C comm -13 "$dir/links" <(bridges) | sed 's/^/interface /'
    for tool in iptables ip6tables; do
        if now=$(firewall "$tool-save" 2>/dev/null); then
            firewall_changes "$dir/$tool" <(lines "$now") | sed "s/^/$tool /"
        else
            echo "$tool rules unreadable"
        fi
    done
    if [ -f "$dir/nft-tables" ] && command -v nft >/dev/null 2>&1; then
        if now=$(new_nft_tables "$dir/nft-tables" 2>/dev/null); then
            lines "$now" | sed 's/^/nft table /'
        else
            echo "nft tables unreadable"
        fi
    fi
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$(cat "$dir/ip_forward")" ] ||
        echo "net.ipv4.ip_forward changed"
}
