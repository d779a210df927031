"""A TCP proxy between a coordinator and a shard that injects network faults.

Point a foreign server at the proxy's port instead of the shard's. The proxy
forwards bytes both ways and reads the frontend side message by message
(PostgreSQL protocol: a startup packet, then a type byte and a length), so a
test can hold a chosen statement before the shard sees it: for example the
COMMIT PREPARED of a two-phase commit, leaving the coordinator waiting at the
exact step where a crash must not lose anything. It also records what the
coordinator sends (`traffic`): the text of each simple Query and each Parse,
and each Sync, with the application_name of the session that sent it, so a
test can count one coordinator backend's round trips. Plain TCP only (test
clusters do not use TLS).
"""

import socket
import struct
import threading


class Hold(object):
    """Messages from the coordinator that contain `pattern` wait here until released."""

    def __init__(self, pattern):
        self.pattern = pattern
        self.reached = threading.Event()
        self.released = threading.Event()

    def release(self):
        self.released.set()


class FaultProxy(object):
    def __init__(self, upstream_port, upstream_host='127.0.0.1'):
        self.upstream = (upstream_host, upstream_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(('127.0.0.1', 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.holds = []
        self.lock = threading.Lock()
        self.sockets = []
        self.closed = False
        # (application_name, type, text) of every Query ('Q'), Parse ('P') and Sync ('S'), in order.
        self.traffic = []
        threading.Thread(target=self._accept, daemon=True).start()

    def hold(self, pattern):
        """Holds the next messages containing `pattern` (bytes) until the returned Hold is released."""
        hold = Hold(pattern)
        with self.lock:
            self.holds.append(hold)
        return hold

    def round_trips(self, session=''):
        """Messages waited on since the traffic was last cleared (simple Queries and Syncs), of the sessions whose
        application_name contains `session`."""
        return sum(1 for name, kind, unused_text in list(self.traffic) if kind in ('Q', 'S') and session in name)

    def queries(self, session=''):
        """The texts of the simple Queries and Parses recorded, of those sessions."""
        return [text for name, kind, text in list(self.traffic) if kind in ('Q', 'P') and session in name]

    def release_all(self):
        with self.lock:
            holds, self.holds = self.holds, []
        for hold in holds:
            hold.release()

    def close(self):
        self.closed = True
        self.release_all()
        self.listener.close()
        for sock in list(self.sockets):
            _close(sock)

    def _accept(self):
        while not self.closed:
            try:
                client = self.listener.accept()[0]
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _close(client)
                continue
            # The frontend side is forwarded message by message: with Nagle's algorithm each message after the
            # first of a batch (Parse, Bind, Execute, Sync) would wait for the shard's delayed ACK, 40 ms a round.
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.sockets.extend([client, server])
            threading.Thread(target=self._frontend, args=(client, server), daemon=True).start()
            threading.Thread(target=self._backend, args=(server, client), daemon=True).start()

    def _backend(self, server, client):
        try:
            while True:
                data = server.recv(65536)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        _close(client)
        _close(server)

    def _frontend(self, client, server):
        try:
            startup = True
            name = ''
            while True:
                if startup:
                    head = _read(client, 4)
                    body = _read(client, struct.unpack('!i', head)[0] - 4)
                    message = head + body
                    # SSLRequest / GSSENCRequest are followed by the real startup packet.
                    startup = len(message) == 8 and body[:4] in (b'\x04\xd2\x16\x2f', b'\x04\xd2\x16\x30')
                    if not startup:
                        fields = body[4:].split(b'\0')
                        parameters = dict(zip(fields[0::2], fields[1::2]))
                        name = parameters.get(b'application_name', b'').decode('utf-8', 'replace')
                else:
                    head = _read(client, 5)
                    message = head + _read(client, struct.unpack('!i', head[1:])[0] - 4)
                    self._record(name, message)
                    self._maybe_hold(message)
                server.sendall(message)
        except OSError:
            pass
        _close(client)
        _close(server)

    def _record(self, name, message):
        kind = message[:1].decode('latin-1')
        if kind == 'Q':
            self.traffic.append((name, kind, message[5:].split(b'\0', 1)[0].decode('utf-8', 'replace')))
        elif kind == 'P':
            # Parse: statement name, then the query text.
            self.traffic.append((name, kind, message[5:].split(b'\0', 2)[1].decode('utf-8', 'replace')))
        elif kind == 'S':
            self.traffic.append((name, kind, ''))

    def _maybe_hold(self, message):
        with self.lock:
            hold = next((h for h in self.holds if h.pattern in message), None)
        if hold is not None:
            hold.reached.set()
            hold.released.wait()


def _read(sock, count):
    data = b''
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise OSError('closed')
        data += chunk
    return data


def _close(sock):
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
