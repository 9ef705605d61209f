#!/usr/bin/env python3
"""Regenerates monero_regtest.json. Needs a running regtest monerod:
  monerod --regtest --offline --fixed-difficulty 1 --no-igd --no-zmq --disable-dns-checkpoints \
    --check-updates disabled --p2p-bind-ip 127.0.0.1 --p2p-bind-port 38080 --rpc-bind-ip 127.0.0.1 \
    --rpc-bind-port 38081 --data-dir /tmp/cnd --non-interactive
and monero-wallet-rpc on PATH (started here on port 28088). Keys: the mainnet wallet in
monero_addresses.json. Stop the daemon afterwards with POST /stop_daemon."""

import json, os, subprocess, time, urllib.request

def call(port, method, params=None, path="/json_rpc"):
    body = {"jsonrpc": "2.0", "id": "0", "method": method, "params": params or {}}
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    r = json.loads(urllib.request.urlopen(req, timeout=600).read())
    if "error" in r:
        raise RuntimeError(f"{method}: {r['error']}")
    return r["result"]


D = 38081
W = 28088
A = "48um9B2g3yRCM13PoUcdtM89cAFLnhvyaeecgZgiYcMYDQYiwTzwtyoF8Wy1XUckWDJFtbHSAp3AiJqTetVjr5ko9euX6Se"
SUB = "84uTaHSXUSLbhGkVxegt72gXANzeifHcjWxEJ5PGi2QdaYU9ujfJ8sf75QfXwm7afLERACV7RDSdS665wL9KrpkEN8u5uwe"
out = {"source": "monerod 0.18.0.0 --regtest --fixed-difficulty 1 (Debian); get_block_template, get_block", "templates": [], "blocks": []}

def tmpl(rs, note):
    t = call(D, "get_block_template", {"wallet_address": A, "reserve_size": rs})
    out["templates"].append({k: t[k] for k in ["height", "difficulty", "wide_difficulty", "reserved_offset", "prev_hash", "seed_hash", "blocktemplate_blob", "blockhashing_blob"]} | {"reserve_size": rs, "note": note})

def block(h):
    b = call(D, "get_block", {"height": h})
    hd = b["block_header"]
    out["blocks"].append({"height": h, "hash": hd["hash"], "miner_tx_hash": b["miner_tx_hash"], "num_txes": hd["num_txes"], "nonce": hd["nonce"], "timestamp": hd["timestamp"], "major_version": hd["major_version"], "blob": b["blob"]})

for rs in (17, 8, 1, 100, 127):
    tmpl(rs, "no transactions")
call(D, "generateblocks", {"amount_of_blocks": 130, "wallet_address": A, "starting_nonce": 0})
tmpl(17, "130 blocks later, no transactions")

os.makedirs("/tmp/cnd/wal", exist_ok=True)
wp = subprocess.Popen(["monero-wallet-rpc", "--wallet-dir", "/tmp/cnd/wal", "--disable-rpc-login", "--rpc-bind-ip", "127.0.0.1", "--rpc-bind-port", str(W), "--daemon-address", f"127.0.0.1:{D}", "--trusted-daemon", "--no-dns", "--shared-ringdb-dir", "/tmp/cnd/ringdb", "--non-interactive", "--log-file", "/tmp/cnd/wal/w.log"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
try:
    for _ in range(60):
        try:
            call(W, "get_version"); break
        except Exception:
            time.sleep(1)
    call(W, "generate_from_keys", {"restore_height": 0, "filename": "w2", "address": A, "spendkey": "a8ae7c2b49f3042f059e22937fc047519062348b89a990028f7c58e18f19820e", "viewkey": "9e30b6b7ff950bd1ab097f45b0fff2cfef827a93e96d9f5c2b0bfb44bd5c3b07", "password": ""})
    call(W, "refresh")
    print("balance", call(W, "get_balance"))
    for i in range(6):
        r = call(W, "transfer", {"destinations": [{"amount": 1000000000000 * (i + 1), "address": SUB if i % 2 else A}], "priority": 0})
        print("tx", r["tx_hash"])
        tmpl(17, f"{i+1} transactions in the pool")
    tmpl(60, "6 transactions, reserve 60")
    res = call(D, "generateblocks", {"amount_of_blocks": 1, "wallet_address": A, "starting_nonce": 0})
    h = res["height"]
    print("mined", h)
    call(W, "store")
    call(W, "stop_wallet")
finally:
    time.sleep(2)
    wp.terminate(); wp.wait(10)
for bh in (1, 2, 60, 133, h - 1, h):
    block(bh)
print([(b["height"], b["num_txes"]) for b in out["blocks"]])
print([(t["height"], t["reserve_size"], t["reserved_offset"], t["blocktemplate_blob"].__len__()//2) for t in out["templates"]])
json.dump(out, open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "monero_regtest.json"), "w"), indent=1)
