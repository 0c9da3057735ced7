#!/usr/bin/python3
"""The libtorrent anchor of the swarm benchmark (driven by libtorrent.ts).

One seed and N peers, each its own OS process with its own lt.session, on 127.0.0.1 with
per-session rate limits, distribute one image as a torrent, the way fwmesh's fleet of node
processes distributes a release. Run it with the system python (/usr/bin/python3), which is
where Debian's python3-libtorrent lives.

    /usr/bin/python3 libtorrent-swarm.py '{"peers": 16, "imageBytes": 8388608, ...}'

(or the JSON on stdin) runs the coordinator, which prints one JSON object on stdout:
completionSeconds (per peer), slowestSeconds, seedUploadedBytes, originCopies, cpuSeconds,
cpuSecondsPerGiB. `node '<json>'` is the mode of one swarm process, spawned by the coordinator.

The coordinator's input:
    peers, imageBytes, seedUploadBps, peerUploadBps, peerDownloadBps (bytes/s; 0 = unlimited)
    pieceBytes (default 256 KiB, fwmesh's chunk size), workDir (default: a temp dir of its
    own), timeoutSeconds (default 300), seed (image PRNG seed, default 1),
    torrentVersion ('hybrid' (libtorrent 2.0's default), 'v1' or 'v2').

The clock starts just before the coordinator tells every process whom to connect to (all
torrents are added by then: the equivalent of fwmesh's approval commit) and a peer's time is
when libtorrent posts its torrent_finished_alert (every piece downloaded and hash-checked).
"""

import ctypes
import json
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import libtorrent as lt

PIECE_BYTES_DEFAULT = 256 * 1024
TIMEOUT_SECONDS_DEFAULT = 300
# How long a swarm process blocks waiting for alerts before looking again: only bounds the
# latency of noticing nothing happened, alerts themselves wake it at once.
ALERT_WAIT_MS = 250
# Starting a session and adding the torrent takes well under a second; a loaded machine is slow.
SETUP_TIMEOUT_SECONDS = 60
# After "quit", how long a process gets to close its session before it is killed.
QUIT_GRACE_SECONDS = 5
IMAGE_WRITE_BLOCK = 16 * 1024 * 1024
PR_SET_PDEATHSIG = 1


def log(*args):
    print('libtorrent-swarm:', *args, file=sys.stderr, flush=True)


def cpu_seconds(pid):
    """utime + stime of a process (all threads), from /proc/<pid>/stat fields 14 and 15.

    Field 2 (the command name, in parentheses) may hold spaces and parentheses: count the
    fields after the last ')'.
    """
    with open(f'/proc/{pid}/stat') as f:
        stat = f.read()
    fields = stat[stat.rindex(')') + 1:].split()
    # fields[0] is field 3 of the file, so field k is at index k - 3.
    return (int(fields[14 - 3]) + int(fields[15 - 3])) / os.sysconf('SC_CLK_TCK')


# ---------------------------------------------------------------------------------------------
# One swarm process: a seed or a peer.


def session_settings(cfg):
    return {
        'listen_interfaces': '127.0.0.1:0',
        'outgoing_interfaces': '127.0.0.1',
        # No discovery beyond the explicit connect_peer calls, and no port mapping.
        'enable_dht': False,
        'enable_lsd': False,
        'enable_upnp': False,
        'enable_natpmp': False,
        # TCP only, like fwmesh.
        'enable_outgoing_utp': False,
        'enable_incoming_utp': False,
        # Every process is on 127.0.0.1.
        'allow_multiple_connections_per_ip': True,
        # Rarest first from the first piece (no whole-piece mode for slow peers), and every
        # interested peer unchoked: measured to be libtorrent's best in this swarm.
        'whole_pieces_threshold': 0,
        'unchoke_slots_limit': -1,
        'upload_rate_limit': cfg['upload'],
        'download_rate_limit': cfg['download'],
        # Count the bytes libtorrent writes, not an estimate of the TCP/IP headers too, as
        # fwmesh's token bucket counts the bytes of its messages.
        'rate_limit_ip_overhead': False,
        'alert_mask': lt.alert.category_t.status_notification | lt.alert.category_t.error_notification,
    }


def apply_limits_to_loopback(ses):
    """Puts every address (loopback included) in the global peer class only.

    By default libtorrent puts peers on local networks (127.0.0.0/8, 10/8, 192.168/16, ...) in
    the 'local' peer class instead, which the session's rate limits (the global class's) do not
    apply to: on 127.0.0.1 nothing would be limited.
    """
    classes = lt.ip_filter()
    classes.add_rule('0.0.0.0', '255.255.255.255', 1 << lt.session.global_peer_class_id)
    ses.set_peer_class_filter(classes)


def run_node(cfg):
    # Die with the coordinator, whatever kills it.
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (AttributeError, OSError):
        pass
    out_lock = threading.Lock()

    def emit(**event):
        with out_lock:
            sys.stdout.write(json.dumps(event) + '\n')
            sys.stdout.flush()

    ses = lt.session(session_settings(cfg))
    apply_limits_to_loopback(ses)
    atp = lt.add_torrent_params()
    atp.ti = lt.torrent_info(cfg['torrent'])
    atp.save_path = cfg['savePath']
    handle = ses.add_torrent(atp)
    if cfg['role'] == 'seed':
        # The seed checks its image before it says it is ready, so the clock never counts it,
        # as fwmesh's origin hashed its chunks when the image was published. (seed_mode would
        # skip the check here and hash each piece on its first upload instead, in the clock.)
        deadline = time.monotonic() + SETUP_TIMEOUT_SECONDS
        while not handle.status().is_seeding:
            if time.monotonic() > deadline:
                raise RuntimeError('the seed did not finish checking its image')
            ses.wait_for_alert(ALERT_WAIT_MS)
            ses.pop_alerts()
    port = ses.listen_port()
    if port == 0:
        raise RuntimeError('libtorrent is not listening on 127.0.0.1')

    # Commands from the coordinator, one JSON object a line; EOF means it is gone.
    commands = queue.Queue()

    def read_commands():
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd['cmd'] == 'connect':
                # Handles are thread safe: connect at once, not at the next alert wait.
                for p in cmd['ports']:
                    handle.connect_peer(('127.0.0.1', p))
            else:
                commands.put(cmd)
        commands.put({'cmd': 'quit'})

    threading.Thread(target=read_commands, daemon=True).start()
    emit(event='ready', port=port, pid=os.getpid())

    while True:
        ses.wait_for_alert(ALERT_WAIT_MS)
        for a in ses.pop_alerts():
            if isinstance(a, lt.torrent_finished_alert) and cfg['role'] == 'peer':
                emit(event='finished', t=time.monotonic())
            elif a.category() & lt.alert.category_t.error_notification:
                log(cfg['role'], a.message())
        try:
            cmd = commands.get_nowait()
        except queue.Empty:
            continue
        if cmd['cmd'] == 'stats':
            s = handle.status()
            emit(event='stats', uploaded=s.total_payload_upload, downloaded=s.total_payload_download)
        elif cmd['cmd'] == 'quit':
            return


# ---------------------------------------------------------------------------------------------
# The coordinator.


def write_image(path, size, seed):
    rng = random.Random(seed)
    with open(path, 'wb') as f:
        for done in range(0, size, IMAGE_WRITE_BLOCK):
            f.write(rng.randbytes(min(IMAGE_WRITE_BLOCK, size - done)))


def make_torrent(image, piece_bytes, version):
    fs = lt.file_storage()
    lt.add_files(fs, image)
    flags = {'hybrid': 0, 'v1': lt.create_torrent.v1_only, 'v2': lt.create_torrent.v2_only}[version]
    ct = lt.create_torrent(fs, piece_bytes, flags=flags)
    lt.set_piece_hashes(ct, os.path.dirname(image))
    path = image + '.torrent'
    with open(path, 'wb') as f:
        f.write(lt.bencode(ct.generate()))
    return path


class Swarm:
    """The seed's and the peers' processes, and the lines they print, in one queue."""

    def __init__(self):
        self.procs = []
        self.events = queue.Queue()

    def start(self, name, cfg):
        proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), 'node', json.dumps(cfg)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.procs.append(proc)

        def pump():
            for line in proc.stdout:
                self.events.put((name, json.loads(line)))
            self.events.put((name, {'event': 'exit', 'code': proc.wait()}))

        threading.Thread(target=pump, daemon=True).start()
        return proc

    def send(self, proc, **cmd):
        proc.stdin.write(json.dumps(cmd) + '\n')
        proc.stdin.flush()

    def next(self, deadline, what):
        left = deadline - time.monotonic()
        try:
            name, event = self.events.get(timeout=max(left, 0))
        except queue.Empty:
            raise TimeoutError(f'timed out waiting for {what}') from None
        if event['event'] == 'exit':
            raise RuntimeError(f'{name} exited with code {event["code"]} while waiting for {what}')
        return name, event

    def stop(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    self.send(proc, cmd='quit')
                except (BrokenPipeError, OSError):
                    pass
        deadline = time.monotonic() + QUIT_GRACE_SECONDS
        for proc in self.procs:
            try:
                proc.wait(timeout=max(deadline - time.monotonic(), 0))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def run_swarm(opts, work):
    n = opts['peers']
    size = opts['imageBytes']
    piece_bytes = opts.get('pieceBytes', PIECE_BYTES_DEFAULT)
    timeout = opts.get('timeoutSeconds', TIMEOUT_SECONDS_DEFAULT)

    seed_dir = os.path.join(work, 'seed')
    os.makedirs(seed_dir)
    image = os.path.join(seed_dir, 'image.bin')
    write_image(image, size, opts.get('seed', 1))
    torrent = make_torrent(image, piece_bytes, opts.get('torrentVersion', 'hybrid'))

    swarm = Swarm()
    try:
        seed = swarm.start('seed', {
            'role': 'seed', 'torrent': torrent, 'savePath': seed_dir,
            'upload': opts['seedUploadBps'], 'download': 0,
        })
        peers = []
        for i in range(n):
            save = os.path.join(work, f'peer-{i}')
            os.makedirs(save)
            peers.append(swarm.start(f'peer-{i}', {
                'role': 'peer', 'torrent': torrent, 'savePath': save,
                'upload': opts['peerUploadBps'], 'download': opts['peerDownloadBps'],
            }))

        ports = {}
        pids = []
        deadline = time.monotonic() + SETUP_TIMEOUT_SECONDS
        while len(ports) < n + 1:
            name, event = swarm.next(deadline, 'every process to listen')
            if event['event'] == 'ready':
                ports[name] = event['port']
                pids.append(event['pid'])

        # The clock starts: every torrent is added; now every peer connects to the seed and
        # to every other peer (a full mesh, as in fwmesh's fidelity fleet).
        cpu_before = sum(cpu_seconds(pid) for pid in pids)
        start = time.monotonic()
        for i, proc in enumerate(peers):
            others = [ports['seed']] + [ports[f'peer-{j}'] for j in range(n) if j != i]
            swarm.send(proc, cmd='connect', ports=others)

        completion = {}
        deadline = start + timeout
        while len(completion) < n:
            name, event = swarm.next(deadline, f'{n - len(completion)} of {n} peers to finish')
            if event['event'] == 'finished' and name not in completion:
                completion[name] = event['t'] - start
        cpu_after = sum(cpu_seconds(pid) for pid in pids)

        swarm.send(seed, cmd='stats')
        while True:
            name, event = swarm.next(time.monotonic() + SETUP_TIMEOUT_SECONDS, "the seed's totals")
            if name == 'seed' and event['event'] == 'stats':
                uploaded = event['uploaded']
                break
    finally:
        swarm.stop()

    cpu = cpu_after - cpu_before
    times = [completion[f'peer-{i}'] for i in range(n)]
    return {
        'peers': n,
        'imageBytes': size,
        'pieceBytes': piece_bytes,
        'torrentVersion': opts.get('torrentVersion', 'hybrid'),
        'libtorrentVersion': lt.__version__,
        'completionSeconds': times,
        'slowestSeconds': max(times),
        'seedUploadedBytes': uploaded,
        'originCopies': uploaded / size,
        'cpuSeconds': cpu,
        'cpuSecondsPerGiB': cpu / (n * size / 2**30),
    }


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == 'node':
        run_node(json.loads(sys.argv[2]))
        return
    opts = json.loads(sys.argv[1] if len(sys.argv) >= 2 else sys.stdin.read())
    own_dir = 'workDir' not in opts
    work = tempfile.mkdtemp(prefix='fwmesh-libtorrent-') if own_dir else opts['workDir']
    # A SIGTERM (the caller's timeout) unwinds through the finally blocks: children stopped,
    # the temp dir removed.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        result = run_swarm(opts, work)
    except (TimeoutError, RuntimeError) as e:
        log(e)
        sys.exit(1)
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result), flush=True)


if __name__ == '__main__':
    main()
