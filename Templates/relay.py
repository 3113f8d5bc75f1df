# hpcserve relay: the node end of every forward to a server that listens on TCP.
# Usage: python3 -I relay.py SOCKET PORT SERVER_PID
# Listens on SOCKET (in the job's 0700 directory, so only you can connect) and relays each
# connection to 127.0.0.1:PORT, but only after proving that the socket which accepted it
# belongs to you: the kernel's table (/proc/net/tcp*) names the owner of the server's end
# of the connection. Another user's process that took the port gets no byte. The relay
# ends, and every connection with it, within 0.2 s of the server's end.
import os
import socket
import sys
import threading
import time

path, port, server_pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
uid = os.getuid()


def say(text):
    sys.stderr.write(time.strftime("%H:%M:%S") + " hpcserve relay: " + text + "\n")
    sys.stderr.flush()


def server_alive():
    try:
        os.kill(server_pid, 0)
        return True
    except OSError:  # gone, or the number now belongs to another user's process
        return False


def owner_of_peer(client_port):
    """The uid that owns the server's end of our connection from client_port, or None."""
    for _ in range(200):  # the kernel lists it at once; allow 2 s on a very busy node
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            try:
                with open(table) as f:
                    rows = f.read().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                field = row.split()
                local_port = int(field[1].rsplit(":", 1)[1], 16)
                remote_port = int(field[2].rsplit(":", 1)[1], 16)
                if local_port == port and remote_port == client_port and field[3] != "0A":
                    return int(field[7])
        time.sleep(0.01)
    return None


def pump(source, sink):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def serve(client):
    upstream = None
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
        owner = owner_of_peer(upstream.getsockname()[1])
        if owner != uid or not server_alive():
            say("refused a connection: 127.0.0.1:%d is not your server's (its owner is uid %s)" % (port, owner))
            return
        upstream.settimeout(None)
        back = threading.Thread(target=pump, args=(client, upstream), daemon=True)
        back.start()
        pump(upstream, client)
        back.join()
    except OSError as error:
        say("cannot reach 127.0.0.1:%d: %s" % (port, error))
    finally:
        client.close()
        if upstream is not None:
            upstream.close()


listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
os.umask(0o177)
listener.bind(path)
listener.listen(64)
listener.settimeout(0.2)
while server_alive():
    try:
        conn, _ = listener.accept()
    except socket.timeout:
        continue
    conn.settimeout(None)
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
os.unlink(path)
os._exit(0)  # closes every relayed connection at once
