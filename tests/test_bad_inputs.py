"""Bad inputs give a non-zero exit, one line starting with 'error:' that names the culprit, no traceback, and no half-written output."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from animetool_runtime import BundleError, load
from animetool_runtime.manifest import sha256_path
from conftest import ROOT, animetool, small_bundle

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@pytest.fixture
def bundle_copy(tmp_path, tmp_path_factory) -> Path:
    """A private copy of the small bundle, free to damage."""
    return Path(shutil.copytree(small_bundle(tmp_path_factory), tmp_path / "bundle"))


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Non-zero exit; the last non-empty stderr line starts with 'error:' and names every needle; no traceback."""
    stderr = ANSI.sub("", proc.stderr)
    assert proc.returncode != 0, stderr[-3000:]
    assert "Traceback" not in stderr, stderr[-3000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines, "nothing on stderr"
    last = lines[-1]
    assert last.startswith("error:"), stderr[-3000:]
    for needle in needles:
        assert needle in last, (needle, last)
    return last


def leftovers(out: Path) -> list[str]:
    """Temporary siblings an interrupted or failed export could leave beside out."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith((f".{out.name}.partial-", f".{out.name}.old-")))


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), sorted(os.listdir(out)) if out.is_dir() else out
    assert leftovers(out) == []


def write_checkpoint(path: Path) -> Path:
    from safetensors.torch import save_file

    from animetool.models import create_model

    state = {k: v.contiguous() for k, v in create_model("generator-standin").state_dict().items()}
    save_file(state, str(path), metadata={"arch": "generator-standin", "licence": "Apache-2.0"})
    return path


def truncated_checkpoint(tmp: Path) -> str:
    path = write_checkpoint(tmp / "cut.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return str(path)


def empty_calib(tmp: Path) -> str:
    (tmp / "calib-empty").mkdir()
    (tmp / "calib-empty" / "notes.txt").write_text("no images here\n")
    return str(tmp / "calib-empty")


def corrupt_calib(tmp: Path) -> str:
    (tmp / "calib-bad").mkdir()
    (tmp / "calib-bad" / "photo.jpg").write_bytes(np.random.default_rng(0).bytes(4096))
    return str(tmp / "calib-bad")


# name -> (args before -o given the test's tmp dir, what the error line must name)
EXPORTS = {
    "missing-model-file": (lambda t: ["missing.safetensors"], ["missing.safetensors"]),
    "unknown-model-name": (lambda t: ["no-such-model"], ["no-such-model"]),
    "truncated-checkpoint": (lambda t: [truncated_checkpoint(t)], ["cut.safetensors"]),
    "unknown-target": (lambda t: ["generator-standin", "-t", "tensorrt"], ["'tensorrt'"]),
    "unknown-precision": (lambda t: ["generator-standin", "-p", "int3"], ["'int3'"]),
    "calib-no-images": (lambda t: ["generator-standin", "-p", "int8", "--calib", empty_calib(t)], ["calib-empty"]),
    "calib-corrupt-jpg": (lambda t: ["generator-standin", "-p", "int8", "--calib", corrupt_calib(t)], ["photo.jpg"]),
    "imgsz-not-a-stride-multiple": (lambda t: ["pose-student-s", "--imgsz", "200"], ["pose-student-s", "200x200"]),
    "imgsz-not-a-number": (lambda t: ["pose-student-s", "--imgsz", "big"], ["--imgsz", "'big'"]),
    "imgsz-three-numbers": (lambda t: ["pose-student-s", "--imgsz", "1,224,224"], ["--imgsz", "'1,224,224'"]),
}


# A .zip output matters once the export has started writing (the calibration cases fail inside the atomic writer).
@pytest.mark.parametrize("case,out_name", [(c, "OUT") for c in EXPORTS] + [(c, "OUT.zip") for c in EXPORTS if c.startswith("calib")])
def test_bad_export(tmp_path, case, out_name):
    make_args, needles = EXPORTS[case]
    args = make_args(tmp_path)
    out = tmp_path / "out" / out_name
    proc = animetool("export", *args, "-o", str(out), check=False, cwd=tmp_path)
    assert_one_line_error(proc, *needles)
    assert not out.exists()
    if out.parent.exists():
        assert os.listdir(out.parent) == []


@pytest.mark.parametrize("case", ["calib-no-images", "calib-corrupt-jpg", "unknown-target"])
def test_failed_export_leaves_existing_out_untouched(tmp_path, tmp_path_factory, case):
    """An earlier bundle at OUT survives a failed export byte for byte."""
    out = Path(shutil.copytree(small_bundle(tmp_path_factory), tmp_path / "OUT"))
    (out / "marker.txt").write_text("keep me\n")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    make_args, needles = EXPORTS[case]
    proc = animetool("export", *make_args(tmp_path), "-o", str(out), check=False)
    assert_one_line_error(proc, *needles)
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert leftovers(out) == []


@pytest.mark.parametrize("command", [["train", "generator"],
                                     ["distill", "generator", "--teacher", str(ROOT / "models/weights/generator-teacher.v3.safetensors")]])
def test_training_from_missing_init_weights(tmp_path, command):
    out = tmp_path / "g.safetensors"
    proc = animetool(*command, "-o", str(out), "--init", str(tmp_path / "nope.safetensors"), check=False)
    assert_one_line_error(proc, "--init", "nope.safetensors")
    assert not out.exists()


def test_verify_missing_path(tmp_path):
    assert_one_line_error(animetool("verify", str(tmp_path / "nowhere"), check=False), "nowhere")


def test_verify_folder_without_manifest(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "model.onnx").write_bytes(b"\0" * 64)
    assert_one_line_error(animetool("verify", str(tmp_path / "plain"), check=False), "plain", "manifest.json")


def test_verify_unsupported_schema(bundle_copy):
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    manifest["schema"] = 99
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    assert_one_line_error(animetool("verify", str(bundle_copy), check=False), "manifest.json", "schema", "99")


def test_verify_zip_that_is_not_a_zip(tmp_path):
    fake = tmp_path / "bundle.zip"
    fake.write_bytes(np.random.default_rng(1).bytes(2048))
    assert_one_line_error(animetool("verify", str(fake), check=False), "bundle.zip")
    assert_one_line_error(animetool("bench", str(fake), "--runs", "1", check=False), "bundle.zip")


def _damage(bundle: Path, fmt: str, how) -> str:
    """Apply how(manifest entry, file path) to the fp32 entry of fmt; return its file name."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    entry = next(m for m in manifest["models"] if m["format"] == fmt and m["precision"] == "fp32")
    how(entry, bundle / entry["file"])
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    return entry["file"]


def _verify_reports(bundle: Path, name: str, fault: str) -> None:
    """verify reports the damaged entry as a failed row (exit 1) naming file and fault; the other entries still pass."""
    proc = animetool("verify", bundle.name, check=False, cwd=bundle.parent)  # relative path: the table cell stays short
    out = ANSI.sub("", proc.stdout + proc.stderr)
    assert proc.returncode == 1, out[-3000:]
    assert "Traceback" not in out
    assert name in out and fault in out, out[-3000:]
    proc = animetool("verify", str(bundle), "--json", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    rows = {r["key"]: r for r in json.loads(proc.stdout)}
    bad = [r for r in rows.values() if r["status"] != "ok"]
    assert len(bad) == 1 and bad[0]["status"] == "failed", rows
    assert name in bad[0]["reason"] and fault in bad[0]["reason"] and "\n" not in bad[0]["reason"]
    assert len(rows) == 4


def test_verify_wrong_sha256(bundle_copy):
    name = _damage(bundle_copy, "onnx", lambda e, f: e.update(sha256="0" * 64))
    _verify_reports(bundle_copy, name, "sha256")


def test_truncated_model_file(bundle_copy):
    def cut(entry, path):
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        entry["sha256"] = sha256_path(path)  # the checksum passes: the backend itself must reject the file

    name = _damage(bundle_copy, "onnx", cut)
    _verify_reports(bundle_copy, name, "cannot load")
    # The runtime API: one BundleError, one line, naming the file.
    with pytest.raises(BundleError) as info:
        load(bundle_copy, backend="onnx", precision="fp32").model("generator-standin")
    assert name in str(info.value) and "\n" not in str(info.value)
    # bench: a failed row naming the file, the other rows still measured, exit 1.
    proc = subprocess.run([sys.executable, "-m", "animetool_runtime", "bench", str(bundle_copy), "--json", "--runs", "1",
                           "--warmup", "0", "--backend", "onnxruntime"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]
    rows = {r["precision"]: r for r in json.loads(proc.stdout)["rows"]}
    assert rows["fp32"]["status"] == "failed" and name in rows["fp32"]["reason"]
    assert rows["int8"]["status"] == "ok"


def test_ctrl_c_during_export_leaves_nothing(tmp_path):
    """SIGINT in the middle of a long export: exit non-zero, one 'interrupted' line, no bundle, no partial folder or zip."""
    out = tmp_path / "OUT"
    stdout, stderr = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with open(stdout, "w") as so, open(stderr, "w") as se:
        # a shell runs background jobs with SIGINT ignored, and a child inherits that: give it the default, as a terminal does
        proc = subprocess.Popen([sys.executable, "-m", "animetool.cli", "export", "-t", "all", "-p", "all", "-o", str(out)],
                                stdout=so, stderr=se, env=dict(os.environ, COLUMNS="200"),
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 60
        while not leftovers(out):
            assert proc.poll() is None, f"export ended ({proc.returncode}) before writing:\n{stderr.read_text()[-3000:]}"
            assert time.monotonic() < deadline, "no .OUT.partial-* folder after 60 s"
            time.sleep(0.05)
        time.sleep(2)
        assert proc.poll() is None, "export finished before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    result = subprocess.CompletedProcess(proc.args, rc, stdout.read_text(), stderr.read_text())
    assert_one_line_error(result, "interrupted")
    assert_nothing_written(out)
    assert set(os.listdir(tmp_path)) == {"stdout.txt", "stderr.txt"}


def _point_at(bundle: Path, **fields) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["models"][0].update(fields)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "reference-dotdot", "empty-sha256"])
def test_manifest_cannot_reach_outside_its_bundle(bundle_copy, tmp_path, case):
    """A manifest that names a file outside the bundle (.., absolute, a link out) or switches off the digest is refused
    before any backend sees a file: one BundleError naming manifest, field and path, and a one-line CLI error."""
    outside = tmp_path / "outside"
    outside.mkdir()
    first = json.loads((bundle_copy / "manifest.json").read_text())["models"][0]
    shutil.copy(bundle_copy / first["file"], outside / "x.onnx")
    field, fault = "file", "outside the bundle"
    if case == "dotdot":
        _point_at(bundle_copy, file="../outside/x.onnx")
    elif case == "absolute":
        _point_at(bundle_copy, file=str(outside / "x.onnx"))
    elif case == "symlink":
        (bundle_copy / "link.onnx").symlink_to(outside / "x.onnx")
        _point_at(bundle_copy, file="link.onnx")
    elif case == "reference-dotdot":
        field = "reference"
        _point_at(bundle_copy, reference="../outside/ref.npz")
    else:
        field, fault = "sha256", "sha256"
        _point_at(bundle_copy, sha256="")
    with pytest.raises(BundleError) as info:
        load(bundle_copy)
    assert "manifest.json" in str(info.value) and field in str(info.value) and fault in str(info.value)
    for command in (["verify", str(bundle_copy)], ["bench", str(bundle_copy), "--runs", "1"]):
        assert_one_line_error(animetool(*command, check=False), "manifest.json", field)


@pytest.mark.parametrize("kind", ["folder", "file"])
def test_export_never_replaces_what_is_not_a_bundle(tmp_path, kind):
    """-o naming a user's folder or file: refused in one line, and every byte of it stays."""
    out = tmp_path / "mine"
    if kind == "folder":
        out.mkdir()
        (out / "notes.txt").write_text("keep me\n")
    else:
        out.write_text("keep me\n")
    proc = animetool("export", "generator-standin", "-o", str(out), check=False)
    assert_one_line_error(proc, str(out), "not an animetool bundle")
    kept = (out / "notes.txt") if kind == "folder" else out
    assert kept.read_text() == "keep me\n" and leftovers(out) == []
    assert sorted(os.listdir(out)) == ["notes.txt"] if kind == "folder" else out.is_file()


def test_a_bare_model_file_loads_and_runs(tmp_path_factory):
    """load() takes one model file too (the README says so): its one entry is found without naming a precision."""
    bundle = small_bundle(tmp_path_factory)
    model = load(bundle / "generator-standin.int8.onnx").model()
    assert model.run(np.zeros((1, 3, 128, 128), np.float32))[0].shape == (1, 3, 128, 128)


def test_training_state_is_never_unpickled_and_ctrl_c_keeps_the_steps(tmp_path):
    """A state file holding code is refused in one line (weights_only); Ctrl-C before the first periodic save still
    saves, so the same command resumes instead of starting over."""
    import pickle

    import torch

    from animetool.train.loop import Trainer

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'pwned'}",))

    state = tmp_path / "evil.state.pt"
    state.write_bytes(pickle.dumps({"model": Boom()}))
    proc = animetool("train", "generator", "--arch", "generator-standin", "--data", str(tmp_path), "--state",
                     str(state), "-o", str(tmp_path / "g.safetensors"), "--steps", "1", check=False)
    assert proc.returncode != 0 and not (tmp_path / "pwned").exists()

    class Stops(Trainer):
        def train_step(self, rng):
            if self.step == 3:
                raise KeyboardInterrupt
            loss = self.model(torch.ones(2, 3)).pow(2).mean()
            self.backward_step(loss, self.opt, self.model.parameters())
            return {"total": float(loss.detach())}

    good = tmp_path / "good.state.pt"
    with pytest.raises(KeyboardInterrupt):
        Stops(torch.nn.Linear(3, 2), good, steps=10, seed=0).run()
    assert Stops(torch.nn.Linear(3, 2), good, steps=10, seed=0).step == 3
    with pytest.raises(ValueError, match="not a training state"):
        Stops(torch.nn.Linear(3, 2), state, steps=10, seed=0)
    assert not (tmp_path / "pwned").exists()  # torch.load with weights_only=False would have run the payload


@pytest.mark.parametrize("case", ["runs-0", "backend-nosuch", "save-missing-folder", "steps-0", "every-0",
                                  "corrupt-teacher", "corrupt-init", "out-under-a-file", "tiny-video"])
def test_more_bad_arguments_fail_in_one_line(tmp_path, tmp_path_factory, case):
    """Each is a one-line error naming the option or file, a non-zero exit, and nothing written."""
    bundle = str(small_bundle(tmp_path_factory))
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(np.random.default_rng(0).bytes(1000))
    (tmp_path / "afile").write_text("x")
    data = str(tmp_path / "nodata")
    posedata = str(_small_posedata(tmp_path_factory)) if case.startswith("corrupt") else ""  # real poses: data is read first
    args, needles, out = {
        "runs-0": (["bench", bundle, "--runs", "0"], ["runs 0"], None),
        "backend-nosuch": (["bench", bundle, "--backend", "nosuch"], ["nosuch", "onnxruntime"], None),
        "save-missing-folder": (["bench", bundle, "--save", str(tmp_path / "no" / "r.json")], ["--save", "does not exist"], None),
        "steps-0": (["train", "generator", "--data", data, "-o", str(tmp_path / "g.safetensors"), "--steps", "0"], ["--steps 0"],
                    tmp_path / "g.safetensors"),
        "every-0": (["data", "-o", str(tmp_path / "d"), "--every", "0"], ["--every 0"], tmp_path / "d"),
        "corrupt-teacher": (["distill", "generator", "--teacher", str(corrupt), "--data", posedata,
                             "-o", str(tmp_path / "s.safetensors"), "--steps", "1"], ["corrupt.safetensors"], tmp_path / "s.safetensors"),
        "corrupt-init": (["train", "generator", "--init", str(corrupt), "--data", posedata,
                          "-o", str(tmp_path / "s.safetensors"), "--steps", "1"], ["corrupt.safetensors"], tmp_path / "s.safetensors"),
        "out-under-a-file": (["export", "generator-standin", "-o", str(tmp_path / "afile" / "b")], ["afile", "not a folder"], None),
        "tiny-video": (["animate", str(_tiny_video(tmp_path)), "-o", str(tmp_path / "t.mp4"), "--bundle", bundle],
                       ["tiny.mkv", "too small"], tmp_path / "t.mp4"),
    }[case]
    assert_one_line_error(animetool(*args, check=False), *needles)
    assert out is None or not out.exists()


def _tiny_video(tmp_path: Path) -> Path:
    """A real 1x1-pixel video (FFV1 in Matroska: H.264 cannot be that small)."""
    import av

    path = tmp_path / "tiny.mkv"
    with av.open(str(path), "w") as c:
        s = c.add_stream("ffv1", rate=10)
        s.width = s.height = 1
        s.pix_fmt = "yuv420p"
        for _ in range(3):
            for packet in s.encode(av.VideoFrame.from_ndarray(np.zeros((1, 1, 3), np.uint8), format="rgb24")):
                c.mux(packet)
        for packet in s.encode():
            c.mux(packet)
    return path


def _small_posedata(tmp_path_factory) -> Path:
    from animetool.data.poses import build

    out = tmp_path_factory.getbasetemp() / "posedata-for-bad-inputs"
    if not (out / "index.json").exists():
        build(["sports2d-demo"], "blazepose", out, every=20, limit=6)
    return out


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_kill_9_mid_export_keeps_the_old_bundle_and_the_next_export_tidies(tmp_path, tmp_path_factory):
    """kill -9 while exporting over an existing bundle: OUT still holds the whole old bundle; the partial folder the
    dead process left is removed by the next export, which swaps its bundle in with one atomic exchange."""
    out = Path(shutil.copytree(small_bundle(tmp_path_factory), tmp_path / "OUT"))
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    proc = subprocess.Popen([sys.executable, "-m", "animetool.cli", "export", "-t", "all", "-p", "all", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not leftovers(out):
            assert proc.poll() is None and time.monotonic() < deadline, "no partial folder appeared"
            time.sleep(0.05)
        time.sleep(3)
        proc.kill()
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert leftovers(out) == [f".OUT.partial-{proc.pid}"]
    animetool("export", "generator-standin", "-t", "onnx", "-o", str(out))
    assert leftovers(out) == [] and [e.key for e in load(out).manifest.models] == ["generator-standin/onnx/fp32"]


def test_an_old_bundle_a_dead_export_moved_aside_comes_back(tmp_path, tmp_path_factory):
    """Where the atomic exchange is unavailable, export moves OUT aside before renaming the new one in; if it died in
    between, the next export puts the old bundle back before anything else (here the export then fails: OUT stays)."""
    out = tmp_path / "OUT"
    moved = Path(shutil.copytree(small_bundle(tmp_path_factory), tmp_path / f".OUT.old-{_dead_pid()}"))
    before = {p.relative_to(moved): p.read_bytes() for p in moved.rglob("*") if p.is_file()}
    (tmp_path / f".OUT.partial-{_dead_pid()}").mkdir()
    proc = animetool("export", "generator-standin", "--calib", str(tmp_path / "nothing-here"), "-p", "int8", "-o", str(out),
                     check=False)
    assert_one_line_error(proc, "nothing-here")
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert leftovers(out) == []


def test_a_file_whose_tensors_differ_from_its_manifest_is_refused(bundle_copy):
    """The manifest says one shape, the file another: refused when opened, naming file, tensor and both shapes."""
    manifest = json.loads((bundle_copy / "manifest.json").read_text())
    entry = next(m for m in manifest["models"] if m["format"] == "onnx" and m["precision"] == "fp32")
    entry["outputs"][0]["shape"] = [1, 3, 64, 64]
    (bundle_copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(BundleError) as info:
        load(bundle_copy, backend="onnx", precision="fp32").model("generator-standin")
    assert entry["file"] in str(info.value) and "[1, 3, 128, 128]" in str(info.value) and "[1, 3, 64, 64]" in str(info.value)
    _verify_reports(bundle_copy, entry["file"], "in the manifest")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_or_kill_during_training_saves_and_the_same_command_resumes(tmp_path, tmp_path_factory, sig):
    """SIGINT (Ctrl-C) or SIGTERM (`kill`, a job scheduler, a nohup job) to `animetool train generator` within its first
    3-minute save interval: the steps done are saved, the one-line message says to rerun, and rerunning continues
    from there instead of starting over."""
    import torch

    state, out = tmp_path / "g.state.pt", tmp_path / "g.safetensors"
    cmd = [sys.executable, "-m", "animetool.cli", "train", "generator", "--arch", "generator-student", "--data",
           str(_small_posedata(tmp_path_factory)), "-o", str(out), "--state", str(state), "--steps", "100000",
           "--batch-size", "2"]
    stderr = tmp_path / "stderr.txt"
    with open(stderr, "w") as se:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=se, env=dict(os.environ, COLUMNS="200"),
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 600
        while "step 1:" not in stderr.read_text():  # the log's first-step line: training has begun
            assert proc.poll() is None and time.monotonic() < deadline, stderr.read_text()[-3000:]
            time.sleep(0.2)
        time.sleep(2)
        proc.send_signal(sig)
        rc = proc.wait(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert_one_line_error(subprocess.CompletedProcess(cmd, rc, "", stderr.read_text()), "interrupted", "resume")
    saved = torch.load(state, weights_only=True)["step"]
    assert saved >= 1 and not out.exists()
    done = animetool(*cmd[3:-4], "--steps", str(saved + 1), "--batch-size", "2", "--json")
    assert json.loads(done.stdout)["steps"] == saved + 1 and out.exists()


@pytest.mark.parametrize("fault", ["garbage", "pickled", "wrong-shape", "no-arrays"])
def test_a_damaged_reference_fails_its_rows_in_one_line(bundle_copy, fault):
    """verify and bench read the held-out reference as arrays only: a damaged one fails the rows that use it, naming it."""
    ref = bundle_copy / "reference" / "generator-standin.npz"
    if fault == "garbage":
        ref.write_bytes(b"garbage" * 10)
    elif fault == "pickled":
        np.savez(ref, input=np.array([object()], dtype=object))
    elif fault == "wrong-shape":
        np.savez(ref, input=np.zeros((2, 3, 64, 64), np.float32), **{"output:image": np.zeros((2, 3, 64, 64), np.float32)})
    else:
        np.savez(ref, other=np.zeros(3))
    proc = animetool("verify", str(bundle_copy), "--json", check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    rows = json.loads(proc.stdout)
    assert rows and all(r["status"] == "failed" and "generator-standin.npz" in r["reason"] and "\n" not in r["reason"]
                        for r in rows), rows
