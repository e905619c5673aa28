#!/usr/bin/env bash
# bench/http.sh [BUILD] - berthd's HTTP endpoint: signed Slack requests
# per second (`/berth help`, which berthd answers itself) with p50/p99
# latency, from CLIENTS keep-alive connections for SECONDS; the same for
# GET /health (no signature) as the baseline; and the time from a slash
# command to its acknowledgement while a 10 s promotion runs.
. "$(dirname "$0")/lib.sh" "$@"

CLIENTS=${CLIENTS:-8}
SECONDS_EACH=${SECONDS_EACH:-5}

berth init >/dev/null
hport=$(free_port)
router_ini 24000 24099
printf '[http]\nlisten = 127.0.0.1:%s\n' "$hport" >> "$BERTH_ROOT/berth.ini"
secret=0123456789abcdef0123456789abcdef
echo "$secret" > "$tmp/secret"
chmod 600 "$tmp/secret"
berth slack:connect --signing-secret-file "$tmp/secret" >/dev/null
berthd >/dev/null
until curl -sf "http://127.0.0.1:$hport/health" >/dev/null; do sleep 0.05; done

# load PATH SIGNED: requests/s, p50 and p99 ms from CLIENTS connections.
load() {
	python3 - "$hport" "$1" "$2" "$CLIENTS" "$SECONDS_EACH" "$secret" <<'EOF'
import hashlib, hmac, http.client, sys, threading, time
port, path, signed, clients, secs, secret = sys.argv[1], sys.argv[2], \
    sys.argv[3] == "1", int(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
lat, lock, n = [], threading.Lock(), [0]
def client(k):
    c = http.client.HTTPConnection("127.0.0.1", int(port))
    mine, i, end = [], 0, time.time() + secs
    while time.time() < end:
        i += 1
        if signed:
            # A distinct body each time: berthd refuses a replay.
            body = "team_id=T1&user_id=U%d&text=help&n=%d" % (k, i)
            ts = str(int(time.time()))
            sig = "v0=" + hmac.new(secret.encode(), ("v0:%s:%s" % (ts, body)).encode(), hashlib.sha256).hexdigest()
            h = {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig,
                 "Content-Type": "application/x-www-form-urlencoded"}
            t = time.perf_counter()
            c.request("POST", path, body, h)
        else:
            t = time.perf_counter()
            c.request("GET", path)
        r = c.getresponse(); r.read()
        assert r.status == 200, r.status
        mine.append((time.perf_counter() - t) * 1000)
    with lock:
        lat.extend(mine)
ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
t0 = time.time()
[t.start() for t in ts]; [t.join() for t in ts]
lat.sort()
print("%.0f %.2f %.2f" % (len(lat) / (time.time() - t0), lat[len(lat) // 2], lat[int(len(lat) * 0.99)]))
EOF
}

read -r hrps hp50 hp99 < <(load /health 0)
read -r srps sp50 sp99 < <(load /slack/commands 1)
echo "signed Slack requests: $srps/s, p50 $sp50 ms, p99 $sp99 ms ($CLIENTS connections, ${SECONDS_EACH}s; target 1000/s, p99 < 20 ms)"
echo "baseline GET /health: $hrps/s, p50 $hp50 ms, p99 $hp99 ms"
echo "ratio: $(python3 -c "print('%.2f' % ($srps / $hrps))") of /health's rate"

# The acknowledgement of a slash command while a 10 s promotion runs:
# the promotion's release phase sleeps 10 s (release: sleep 10).
berth pipelines:create demo >/dev/null
berth users:add ana --admin >/dev/null
mkdir -p "$tmp/app"
printf 'web: python3 -m http.server $PORT\nrelease: sleep 10\n' > "$tmp/app/Procfile"
git -C "$tmp/app" init -q
git -C "$tmp/app" add -A
git -C "$tmp/app" commit -qm app
git -C "$tmp/app" push -q "$BERTH_ROOT/repos/demo.git" main 2>/dev/null
python3 - "$hport" "$secret" "$BERTH_ROOT" <<'EOF'
import hashlib, hmac, json, subprocess, sys, time, urllib.request, urllib.parse
port, secret, root = sys.argv[1], sys.argv[2], sys.argv[3]
n = [0]
def slack(text, user="U1"):
    # Slack's bodies differ (trigger_id): berthd refuses a replay.
    n[0] += 1
    body = "team_id=T1&user_id=%s&text=%s&trigger_id=%d&response_url=%s" % (user,
        urllib.parse.quote_plus(text), n[0], urllib.parse.quote("http://127.0.0.1:9/", safe=""))
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(secret.encode(), ("v0:%s:%s" % (ts, body)).encode(), hashlib.sha256).hexdigest()
    req = urllib.request.Request("http://127.0.0.1:%s/slack/commands" % port, body.encode(),
        {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})
    t = time.perf_counter()
    out = urllib.request.urlopen(req).read().decode()
    return (time.perf_counter() - t) * 1000, out
_, out = slack("login")
code = [w for w in json.loads(out)["text"].split() if len(w) == 9 and w[4] == "-"][0]
subprocess.run(["berth", "--root", root, "slack:link", code, "-u", "ana"], check=True,
    stdout=subprocess.DEVNULL)
ack, out = slack("promote demo")
assert "Promoting" in out, out
during = sorted(slack("pipelines")[0] for _ in range(20))
print("promote acknowledged in %.1f ms (target < 100 ms); /berth pipelines during it: median %.1f ms, max %.1f ms"
    % (ack, during[10], during[-1]))
EOF
