"""CURVE authenticates as well as encrypts: only allow-listed client keys get the stream, and secret
keys are 0600 (issue 11, item 4). Over real tcp loopback sockets."""

import os
import shutil
import stat
import threading
import time

import numpy as np
import pytest
import zmq
import zmq.auth

from sdrkit.cli import main
from sdrkit.errors import ConfigError, RadioTimeout
from sdrkit.radio import open_radio
from sdrkit.stream import Publisher, Subscriber

X = (np.arange(500) * (1 + 1j)).astype(np.complex64)


def _keep_publishing(pub, stop):
    def run():
        i = 0
        while not stop.is_set():
            pub.send(X, i * len(X), 1e6, 0.0)
            i += 1
            time.sleep(0.01)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.fixture
def keys(tmp_path):
    d = tmp_path / "keys"
    assert main(["stream", "--make-keys", str(d)]) == 0
    return d


def test_make_keys_writes_secrets_0600_and_authorizes_the_client(keys):
    for name in ("server.key_secret", "client.key_secret"):
        assert stat.S_IMODE(os.stat(keys / name).st_mode) == 0o600
    for name in ("server.key", "client.key"):
        assert (keys / name).exists()
    client_pub, _ = zmq.auth.load_certificate(keys / "client.key")
    assert list(zmq.auth.load_certificates(keys / "authorized_clients")) == [client_pub]
    assert not [p for p in os.listdir(keys) if p.startswith(".keys-")]      # the private staging folder is gone


def test_make_keys_never_overwrites(keys, capsys):
    assert main(["stream", "--make-keys", str(keys)]) == 1
    assert "already holds CURVE keys (server.key, " in capsys.readouterr().err


def test_a_subscriber_with_an_unknown_key_gets_nothing_and_a_known_one_gets_the_stream(keys, tmp_path):
    # the intruder knows the server's public key and has a valid key pair of its own
    intruder = tmp_path / "intruder"
    intruder.mkdir()
    zmq.auth.create_certificates(intruder, "client")
    os.chmod(intruder / "client.key_secret", 0o600)
    shutil.copy(keys / "server.key", intruder / "server.key")
    stop = threading.Event()
    with Publisher("tcp://127.0.0.1:0", curve_keys=str(keys)) as pub:
        t = _keep_publishing(pub, stop)
        try:
            with Subscriber(pub.endpoint, curve_keys=str(intruder)) as sub:
                assert sub.recv(1500) is None and sub.stats.messages == 0
            with pytest.raises(RadioTimeout):
                open_radio(f"zmq:{pub.endpoint}?curve_keys={intruder}&timeout=1")
            with open_radio(f"zmq:{pub.endpoint}?curve_keys={keys}") as r:
                assert np.array_equal(r.rx().samples, X)
        finally:
            stop.set()
            t.join()


def test_a_second_authorized_client_is_let_in_by_adding_its_public_key(keys, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    public, secret = zmq.auth.create_certificates(other, "client")
    os.chmod(secret, 0o600)
    shutil.copy(keys / "server.key", other / "server.key")
    shutil.copy(public, keys / "authorized_clients" / "other.key")
    stop = threading.Event()
    with Publisher("tcp://127.0.0.1:0", curve_keys=str(keys)) as pub:
        t = _keep_publishing(pub, stop)
        try:
            with Subscriber(pub.endpoint, curve_keys=str(other)) as sub:
                assert sub.recv(3000) is not None
        finally:
            stop.set()
            t.join()


def test_an_empty_allow_list_is_refused_up_front(keys):
    os.remove(keys / "authorized_clients" / "client.key")
    with pytest.raises(ConfigError, match=r"no authorized CURVE client keys \(\*\.key\) in .*authorized_clients"):
        Publisher("tcp://127.0.0.1:0", curve_keys=str(keys))


def test_a_secret_key_others_can_read_is_refused(keys):
    os.chmod(keys / "server.key_secret", 0o644)
    with pytest.raises(ConfigError, match=r"server.key_secret has mode 0644: other users can read it; run 'chmod 600"):
        Publisher("tcp://127.0.0.1:0", curve_keys=str(keys))
