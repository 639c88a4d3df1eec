"""No listener on a non-loopback address without allow_remote, decided by the resolved address
(issue 11, item 3), and no port that libzmq would wrap to another (item 9)."""

import socket

import pytest
import zmq

from sdrkit.errors import ConfigError
from sdrkit.sinks import ZmqSink
from sdrkit.stream import Publisher, Subscriber
from sdrkit.stream.endpoints import bind_socket, check_endpoint

EVERYWHERE = ["tcp://*:0", "tcp://0.0.0.0:0", "tcp://:0", "tcp://0:0", "tcp://0.0:0", "tcp://00.0.0.0:0",
              "tcp://0x0.0:0", "tcp://[::]:0", "tcp://[::ffff:0.0.0.0]:0"]


def _host_address():
    """This host's own address on its default route (no packet is sent), or None."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))
        addr = s.getsockname()[0]
    except OSError:
        return None
    finally:
        s.close()
    return None if addr.startswith("127.") else addr


@pytest.mark.parametrize("endpoint", EVERYWHERE)
@pytest.mark.parametrize("binder", ["publisher", "bound subscriber", "prediction sink"])
def test_every_binder_refuses_all_interfaces_however_it_is_spelled(endpoint, binder):
    make = {"publisher": lambda: Publisher(endpoint),
            "bound subscriber": lambda: Subscriber(endpoint, bind=True),
            "prediction sink": lambda: ZmqSink(endpoint, "m")}[binder]
    with pytest.raises(ConfigError, match=r"refusing to bind .*: it listens on every interface.*--allow-remote"):
        make()


def test_an_interface_name_is_judged_by_the_address_it_binds():
    names = [n for _, n in socket.if_nameindex()]
    ctx = zmq.Context.instance()
    if "lo" in names:                                  # loopback by name is fine
        s = ctx.socket(zmq.PUB)
        assert bind_socket(s, "tcp://lo:0").startswith("tcp://127.")
        s.close()
    for name in names:
        if name == "lo":
            continue
        s = ctx.socket(zmq.PUB)
        try:
            s.bind(f"tcp://{name}:0")
        except zmq.ZMQError:                           # an interface without an IPv4 address
            continue
        finally:
            s.close(linger=0)
        with pytest.raises(ConfigError, match=f"refusing to bind tcp://{name}:0: it listens on "):
            Publisher(f"tcp://{name}:0")
        return
    pytest.skip("this host has no non-loopback interface with an IPv4 address")


def test_a_numeric_remote_address_is_refused_before_binding():
    # not this host's address: libzmq could not bind it, so only the check before binding can answer
    with pytest.raises(ConfigError, match=r"refusing to bind tcp://198.51.100.7:5599: it listens on 198.51.100.7"):
        Publisher("tcp://198.51.100.7:5599")


def test_a_host_address_is_not_loopback():
    addr = _host_address()
    if addr is None:
        pytest.skip("this host's name does not resolve to a non-loopback IPv4 address")
    with pytest.raises(ConfigError, match=f"listens on {addr}, not only loopback"):
        Publisher(f"tcp://{addr}:0")


@pytest.mark.parametrize("endpoint", ["tcp://127.0.0.1:0", "tcp://127.1:0", "tcp://localhost:0", "tcp://127.0.0.1:*"])
def test_loopback_spellings_bind(endpoint):
    with Publisher(endpoint) as pub:
        assert pub.endpoint.startswith("tcp://127.")


def test_ipv6_loopback_binds_and_wildcards_bind_only_when_allowed():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this host")
    with Publisher("tcp://[::1]:0") as pub:
        assert pub.endpoint.startswith("tcp://[::1]:")
    with Publisher("tcp://0:0", allow_remote=True) as pub:
        assert pub.endpoint.startswith("tcp://0.0.0.0:")


@pytest.mark.parametrize("endpoint, binding, match", [
    ("tcp://127.0.0.1:70000", True, r"port '70000' is not in 0..65535 \(libzmq would silently use port 4464\)"),
    ("tcp://127.0.0.1:65536", False, r"port '65536' is not in 1..65535 \(libzmq would silently use port 0\)"),
    ("tcp://127.0.0.1:0", False, r"port '0' is not in 1..65535"),
    ("tcp://127.0.0.1:-1", True, r"port '-1' is not in 0..65535"),
    ("tcp://127.0.0.1:http", True, r"port 'http' is not in"),
    ("tcp://127.0.0.1", True, "has no port"),
])
def test_ports_outside_16_bits_are_refused_not_wrapped(endpoint, binding, match):
    with pytest.raises(ConfigError, match=match):
        check_endpoint(endpoint, binding)


def test_stream_command_refuses_a_wrapping_port(capsys):
    from sdrkit.cli import main

    assert main(["stream", "--radio", "sim:captures/demo_mixed.sigmf-meta", "--publish", "tcp://127.0.0.1:70000",
                 "--blocks", "1"]) == 1
    assert "ConfigError: endpoint 'tcp://127.0.0.1:70000': port '70000' is not in 0..65535" in capsys.readouterr().err


def test_a_port_in_use_is_a_config_error():
    with Publisher("tcp://127.0.0.1:0") as pub:
        with pytest.raises(ConfigError, match=f"cannot bind {pub.endpoint}: Address already in use"):
            Publisher(pub.endpoint)
