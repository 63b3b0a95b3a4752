"""Supervised child processes, run for real: restarted when they die, stopped as a group."""

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from runner import services as services_module
from runner.processes import clear_leftovers
from runner.services import Service, ServiceGaveUp, Supervisor
from tests.support.waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]

CHILD_MODULES = {
    # exits at once with code 3
    "lambda_test_quick_exit": "import sys\nsys.exit(3)\n",
    # exits at once with code 2, as a service with a bad configuration does
    "lambda_test_config_error": "import sys\nsys.exit(2)\n",
    # runs for 0.3 s, then exits with code 3
    "lambda_test_late_exit": "import sys, time\ntime.sleep(0.3)\nsys.exit(3)\n",
    # says it is running, then sleeps
    "lambda_test_sleeper": (
        "import os, pathlib, time\n"
        "pathlib.Path(os.environ['READY_FILE']).write_text(str(os.getpid()))\n"
        "time.sleep(120)\n"
    ),
    # starts a grandchild in its process group, reports the grandchild's pid, sleeps
    "lambda_test_parent": (
        "import os, pathlib, subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)'])\n"
        "pathlib.Path(os.environ['READY_FILE']).write_text(str(child.pid))\n"
        "time.sleep(120)\n"
    ),
    # ignores SIGTERM
    "lambda_test_stubborn": (
        "import os, pathlib, signal, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "pathlib.Path(os.environ['READY_FILE']).write_text(str(os.getpid()))\n"
        "time.sleep(120)\n"
    ),
}


@pytest.fixture
def make_service(tmp_path):
    """Services running tiny modules written to tmp_path; all stopped after the test."""
    for name, source in CHILD_MODULES.items():
        (tmp_path / f"{name}.py").write_text(source)
    python_path = os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))
    created = []

    def make(name, module):
        service = Service(
            name,
            module,
            tmp_path / "run" / f"{name}.pid",
            env={"PYTHONPATH": python_path, "READY_FILE": str(tmp_path / f"{name}.ready")},
        )
        created.append(service)
        return service

    yield make
    for service in created:
        if service.process is not None and service.process.poll() is None:
            os.killpg(service.process.pid, signal.SIGKILL)
            service.process.wait()


PACE_S = 0.02  # between two looks (and two supervisor checks) while a test waits


def is_running(pid):
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def ready_pid(service):
    path = Path(service.env["READY_FILE"])
    wait_for(lambda: path.exists() and path.read_text() != "", 5, "the child", interval_s=PACE_S)
    return int(path.read_text())


def test_start_writes_the_pid_file(make_service):
    service = make_service("sleeper", "lambda_test_sleeper")
    Supervisor([service], restart_delay_s=1.0).start_all()
    assert service.process is not None
    assert service.pid_file.read_text() == f"{service.process.pid}\n"
    assert ready_pid(service) == service.process.pid
    assert service.exit_code() is None


def test_a_service_that_dies_is_restarted_within_5_seconds(make_service):
    service = make_service("quick", "lambda_test_quick_exit")
    supervisor = Supervisor([service], restart_delay_s=1.0)
    supervisor.start_all()
    first = service.process
    wait_for(lambda: service.exit_code() is not None, 5, "the service to exit", interval_s=PACE_S)
    assert service.exit_code() == 3
    died = time.monotonic()
    wait_for(
        lambda: service.restarts >= 1, 5, "a restart", interval_s=PACE_S, between=supervisor.check
    )
    assert time.monotonic() - died < 5.0
    assert service.restarts == 1
    assert service.process is not first
    assert service.process.pid != first.pid
    assert service.pid_file.read_text() == f"{service.process.pid}\n"


def test_restarts_count_up_while_a_service_keeps_dying_after_it_started(make_service):
    service = make_service("late", "lambda_test_late_exit")
    supervisor = Supervisor([service], restart_delay_s=0.05, quick_exit_s=0.2)
    supervisor.start_all()
    pids = {service.process.pid}

    def step():
        supervisor.check()
        pids.add(service.process.pid)

    wait_for(lambda: service.restarts >= 3, 5, "three restarts", interval_s=PACE_S, between=step)
    assert len(pids) >= 4  # the first process and three restarts


def test_a_running_service_is_left_alone(make_service):
    sleeper = make_service("sleeper", "lambda_test_sleeper")
    quick = make_service("quick", "lambda_test_quick_exit")
    supervisor = Supervisor([sleeper, quick], restart_delay_s=0.05)
    supervisor.start_all()
    pid = ready_pid(sleeper)
    wait_for(
        lambda: quick.restarts >= 1,
        5,
        "a restart of the quick one",
        interval_s=PACE_S,
        between=supervisor.check,
    )
    assert sleeper.restarts == 0
    assert sleeper.process.pid == pid
    assert sleeper.exit_code() is None


def test_stop_all_terminates_a_sleeping_child(make_service):
    service = make_service("sleeper", "lambda_test_sleeper")
    supervisor = Supervisor([service], restart_delay_s=1.0)
    supervisor.start_all()
    pid = ready_pid(service)
    started = time.monotonic()
    supervisor.stop_all()
    assert time.monotonic() - started < services_module.STOP_TIMEOUT_S
    assert service.exit_code() == -signal.SIGTERM
    assert not is_running(pid)
    assert not service.pid_file.exists()


def test_stop_all_terminates_the_whole_process_group(make_service):
    service = make_service("parent", "lambda_test_parent")
    supervisor = Supervisor([service], restart_delay_s=1.0)
    supervisor.start_all()
    grandchild = ready_pid(service)
    assert is_running(grandchild)
    supervisor.stop_all()
    assert service.exit_code() == -signal.SIGTERM
    wait_for(
        lambda: not is_running(grandchild),
        5,
        "the grandchild to die with stop_all",
        interval_s=PACE_S,
    )


def test_stop_kills_a_child_that_ignores_sigterm(make_service, monkeypatch):
    monkeypatch.setattr(services_module, "STOP_TIMEOUT_S", 0.5)
    service = make_service("stubborn", "lambda_test_stubborn")
    supervisor = Supervisor([service], restart_delay_s=1.0)
    supervisor.start_all()
    ready_pid(service)
    supervisor.stop_all()
    assert service.exit_code() == -signal.SIGKILL
    assert not service.pid_file.exists()


def test_stop_of_a_service_that_never_started_or_already_ended(make_service):
    never = make_service("never", "lambda_test_sleeper")
    never.stop()
    assert never.process is None
    ended = make_service("ended", "lambda_test_quick_exit")
    ended.start()
    wait_for(lambda: ended.exit_code() is not None, 5, "the service to end", interval_s=PACE_S)
    ended.stop()
    assert ended.exit_code() == 3


def test_a_service_that_fails_at_once_three_times_in_a_row_is_given_up(make_service):
    service = make_service("config", "lambda_test_config_error")
    supervisor = Supervisor([service], restart_delay_s=0.05)
    supervisor.start_all()
    with pytest.raises(ServiceGaveUp) as gave_up:
        wait_for(
            lambda: False,
            10,
            "the supervisor to give up",
            interval_s=PACE_S,
            between=supervisor.check,
        )
    assert gave_up.value.service == "config"
    assert gave_up.value.exit_code == 2
    message = str(gave_up.value)
    assert "config" in message and "exit code 2" in message and "3 times in a row" in message
    assert service.restarts == 2  # started three times in all, then no more
    assert service.exit_code() == 2
    assert not service.pid_file.exists()


def test_a_service_killed_by_a_signal_is_restarted_however_soon(make_service):
    service = make_service("sleeper", "lambda_test_sleeper")
    supervisor = Supervisor([service], restart_delay_s=0.05)
    supervisor.start_all()
    for kill in range(1, 4):  # as many deaths as it takes quick failures to give up
        pid = ready_pid(service)
        Path(service.env["READY_FILE"]).unlink()
        os.kill(pid, signal.SIGKILL)
        wait_for(
            lambda n=kill: service.restarts == n,
            5,
            f"restart {kill}",
            interval_s=PACE_S,
            between=supervisor.check,
        )
    assert service.exit_code() is None


def test_children_die_with_the_supervisor(make_service, tmp_path):
    """kill -9 of the process that started a service takes the service with it."""
    sleeper = make_service("sleeper", "lambda_test_sleeper")
    script = (
        "import pathlib, sys, time\n"
        "from runner.services import Service\n"
        "Service('sleeper', 'lambda_test_sleeper', pathlib.Path(sys.argv[1])).start()\n"
        "time.sleep(120)\n"
    )
    env = {
        **os.environ,
        **sleeper.env,
        "PYTHONPATH": os.pathsep.join([str(ROOT), sleeper.env["PYTHONPATH"]]),
    }
    supervisor = subprocess.Popen(
        [sys.executable, "-c", script, str(sleeper.pid_file)], env=env, cwd=ROOT
    )
    try:
        child = ready_pid(sleeper)
        assert is_running(child)
        supervisor.kill()
        supervisor.wait()
        wait_for(
            lambda: not is_running(child),
            5,
            "the service to die with its supervisor",
            interval_s=PACE_S,
        )
    finally:
        supervisor.kill()
        supervisor.wait()
        with contextlib.suppress(ProcessLookupError, ValueError, FileNotFoundError):
            os.killpg(int(sleeper.pid_file.read_text()), signal.SIGKILL)


def test_a_leftover_of_an_earlier_run_is_killed_with_its_group(make_service, caplog):
    service = make_service("parent", "lambda_test_parent")
    service.start()  # then forgotten, as by a runner that was killed
    grandchild = ready_pid(service)
    leader = service.process.pid
    with caplog.at_level(logging.INFO, logger="runner"):
        cleared = clear_leftovers(service.pid_file.parent, {"parent": ("-m", "lambda_test_parent")})
    assert cleared == ["parent"]
    assert not is_running(leader)
    wait_for(
        lambda: not is_running(grandchild), 5, "the leftover's group to die", interval_s=PACE_S
    )
    assert not service.pid_file.exists()
    lines = [r.getMessage() for r in caplog.records if str(leader) in r.getMessage()]
    assert len(lines) == 1, caplog.text
    assert "parent" in lines[0]


def test_stale_pid_files_are_removed_and_nobody_else_is_killed(make_service, tmp_path):
    run_dir = tmp_path / "run"
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    # the right program, but started for another data directory
    elsewhere = make_service("sleeper", "lambda_test_sleeper")
    elsewhere.pid_file = tmp_path / "elsewhere" / "run" / "sleeper.pid"
    elsewhere.start()
    # started for this data directory, but not the program the pid file names
    stranger = make_service("stubborn", "lambda_test_stubborn")
    stranger.start()
    alive = [ready_pid(elsewhere), ready_pid(stranger)]
    (run_dir / "ingest.pid").write_text(f"{ended.pid}\n")
    (run_dir / "sleeper.pid").write_text(f"{elsewhere.process.pid}\n")
    (run_dir / "speed.pid").write_text(f"{stranger.process.pid}\n")
    (run_dir / "serving.pid").write_text("not a pid\n")
    commands = {
        "ingest": ("-m", "ingest"),
        "sleeper": ("-m", "lambda_test_sleeper"),
        "speed": ("-m", "speed_layer"),
        "serving": ("-m", "serving_layer"),
    }
    assert clear_leftovers(run_dir, commands) == []
    assert all(is_running(pid) for pid in alive)
    assert sorted(p.name for p in run_dir.glob("*.pid")) == ["stubborn.pid"]
