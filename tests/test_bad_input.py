"""Bad input through the running app's API, one table: each request gets a clear message,
and afterwards nothing has changed (the models folder, a good request's answer). Plus what
the server must never do: serve files outside its output folder, or unpickle anything."""

import base64
import json
import re
import zlib
from pathlib import Path

import httpx
import numpy as np
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.appserver import running_app
from tests.images import write_huge_png_header, write_png
from tests.test_app import raw_call, settings

ROOT = Path(__file__).resolve().parents[1]
ANY = ["any", 1.0]
TRAIN = ["spiral", "small (width 64, depth 3)", "gaussian-noise", False, "linear", 50, "eps", 20, 64, 2e-3, 0]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    (folder / "garbled").mkdir()
    (folder / "garbled" / "config.json").write_text("{not json")
    shipped = json.loads((ROOT / "checkpoints" / "spiral-mlp" / "config.json").read_text())
    (folder / "wronghash").mkdir()
    (folder / "wronghash" / "config.json").write_text(json.dumps(shipped))
    (folder / "wronghash" / "model.safetensors").write_bytes(b"\0" * 64)
    escape = {**shipped, "stored": {"model.safetensors": "../../spiral-mlp/model.safetensors"}}
    (folder / "escape").mkdir()
    (folder / "escape" / "config.json").write_text(json.dumps(escape))
    return folder


@pytest.fixture(scope="module")
def app(models):
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("EXPLORER_MODELS_DIR", str(models))
        with running_app() as url:
            yield url, Client(url, download_files=False, verbose=False)


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def upload(path: Path) -> list:
    return [*settings(dataset="upload", upload=handle_file(str(path))), [], ""]


def make_uploads(tmp: Path) -> dict[str, Path]:
    letter = tmp / "letter.png"
    letter.write_text("Dear diffusion model, ...")
    empty = tmp / "empty.png"
    empty.write_bytes(b"")
    return {"letter": letter, "empty": empty, "bomb": write_huge_png_header(tmp / "bomb.png")}


REVERSE = ["spiral-mlp", 200, 0, "beta_tilde", False, *ANY, False, ""]
BAD_REQUESTS = [
    # (what, endpoint, arguments or a maker of them, message)
    ("upload: not an image", "/forward_view", lambda u: upload(u["letter"]), "not an image"),
    ("upload: zero bytes", "/forward_view", lambda u: upload(u["empty"]), "file is empty"),
    ("upload: decompression bomb", "/forward_view", lambda u: upload(u["bomb"]), "the limit is 16,777,216 pixels"),
    ("T out of range", "/forward_view", lambda u: [*settings(T=10**9), [], ""], "T must be between 2 and 4000"),
    ("model name with ..", "/reverse_sample", lambda u: ["../../etc/passwd", *REVERSE[1:]], "bad model name"),
    ("absolute model path", "/reverse_sample", lambda u: ["/etc/passwd", *REVERSE[1:]], "bad model name"),
    ("garbled config.json", "/reverse_sample", lambda u: ["garbled", *REVERSE[1:]], "config.json is not valid JSON"),
    ("weights not matching their hash", "/reverse_sample", lambda u: ["wronghash", *REVERSE[1:]],
     "does not match its recorded hash"),
    ("stored file outside the folder", "/reverse_sample", lambda u: ["escape", *REVERSE[1:]],
     "bad stored file name"),
    ("class of an unconditional model", "/reverse_sample", lambda u: [*REVERSE[:5], "3", 1.0, False, ""],
     "not class-conditional"),
    ("negative samples", "/compare_run", lambda u: ["spiral-mlp", -5, 0, True, *ANY, 100, False,
                                                    True, "ddim", 10, "trailing", 0.0, True, "ddim", 20, "trailing",
                                                    0.0, False, "ddim", 5, "trailing", 0.0, False, "ddim", 5,
                                                    "trailing", 0.0], "less than minimum value 1"),
    ("training name with a separator", "/train_start", lambda u: [*TRAIN, "../evil", False], "bad model name"),
    ("training steps beyond the limit", "/train_start", lambda u: [*TRAIN[:7], 10**9, *TRAIN[8:], "x", False],
     "greater than maximum value"),
]  # fmt: skip


def test_every_bad_request_gets_a_clear_message_and_changes_nothing(app, models, tmp_path):
    url, client = app
    before = snapshot(models)
    uploads = make_uploads(tmp_path)
    for what, endpoint, arguments, message in BAD_REQUESTS:
        with pytest.raises(AppError) as caught:
            client.predict(*arguments(uploads), api_name=endpoint)
        text = str(caught.value)
        assert re.search(message, text), f"{what}: {text}"
        assert "Traceback" not in text, what
    assert snapshot(models) == before, "bad requests wrote nothing"
    info = client.predict(*REVERSE, api_name="/reverse_sample")[-2]
    assert "t = 0 of 1000" in info, "the app still answers good requests"


@pytest.mark.parametrize(
    "endpoint, values, index, message",
    [("reverse_sample", REVERSE, 1, "number of samples must be a whole number"),
     ("reverse_sample", REVERSE, 6, "guidance scale must be a finite number"),
     ("guidance_sweep", ["patterns-cond", 0, 200, 10, 0], 3, "steps must be a whole number"),
     ("d3pm_sample", ["digits-absorbing", 4, 20, 0], 2, "steps must be a whole number")],
)  # fmt: skip
def test_nan_numbers_through_the_api_are_clear_messages(app, endpoint, values, index, message):
    url, _ = app
    values = list(values)
    values[index] = float("nan")
    stream = raw_call(url, endpoint, json.dumps({"data": values}))
    assert "event: error" in stream and message in stream, stream[-400:]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "CMYK", "I;16", "P", "1"])
def test_unusual_channel_layouts_are_read_not_refused(app, tmp_path, mode):
    _, client = app
    path = tmp_path / f"odd.{'jpg' if mode == 'CMYK' else 'png'}"
    base = Image.open(write_png(tmp_path / "base.png", 40, 30))
    converted = base.convert("L").convert(mode) if mode in ("I;16", "1") else base.convert(mode)
    converted.save(path)
    blend = client.predict(*upload(path), api_name="/forward_view")[0]["panels"][0]
    x0 = np.frombuffer(zlib.decompress(base64.b64decode(blend["x0"])), np.uint8)
    assert blend["channels"] in (1, 3) and x0.size == blend["channels"] * blend["h"] * blend["w"] and x0.std() > 0, mode


def test_an_upload_over_the_size_limit_is_refused_by_the_server(app, tmp_path):
    from explorer.limits import MAX_UPLOAD_BYTES

    url, _ = app
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + b"\0" * (MAX_UPLOAD_BYTES + 1))
    with big.open("rb") as f:
        response = httpx.post(url.rstrip("/") + "/gradio_api/upload", files={"files": ("big.png", f)}, timeout=60)
    assert response.status_code == 413 and "maximum allowed size" in response.text, response.text


def test_the_server_serves_no_file_outside_its_output_folder(app):
    url, _ = app
    base = url.rstrip("/")
    for target in ["/etc/passwd", str(ROOT / "checkpoints" / "spiral-mlp" / "config.json"), str(ROOT / "app.py"),
                   "../../../../etc/passwd"]:  # fmt: skip
        for route in (f"{base}/gradio_api/file={target}", f"{base}/file={target}"):
            response = httpx.get(route, timeout=10)
            assert response.status_code in (403, 404, 405), (route, response.status_code)
            assert "root:" not in response.text and '"format"' not in response.text


def test_no_code_path_unpickles():
    pattern = re.compile(r"\bpickle\b|torch\.load\(|np\.load\([^)]*allow_pickle=True|joblib")
    offenders = [f"{path.relative_to(ROOT)}:{n}" for path in [*ROOT.glob("explorer/**/*.py"), ROOT / "app.py"]
                 for n, line in enumerate(path.read_text().splitlines(), 1) if pattern.search(line)
                 and "never" not in line and "nothing" not in line.lower()]  # fmt: skip
    assert not offenders, offenders
    assert np.load.__defaults__ is not None  # numpy's own default stays allow_pickle=False


def test_a_public_server_bounds_each_clients_uploads_and_its_cache(tmp_path, monkeypatch):
    from explorer.serve import limits as server
    from explorer.ui import middleware

    cache = tmp_path / "gradio-cache"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(cache))
    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setattr(middleware, "PUBLIC_UPLOAD_BYTES", 5 * 2**20)
    monkeypatch.setattr(middleware, "CACHE_MAX_BYTES", 3 * 2**20)
    server.configure(server.ServerLimits(public=True))
    blob = b"\x89PNG" + bytes(2**20)
    try:
        with running_app() as url:
            statuses, messages = [], []
            for i in range(6):
                response = httpx.post(url.rstrip("/") + "/gradio_api/upload",
                                      files={"files": (f"f{i}.png", blob)}, timeout=60)  # fmt: skip
                statuses.append(response.status_code)
                messages.append(response.text)
            other = httpx.post(url.rstrip("/") + "/gradio_api/upload", files={"files": ("g.png", blob)},
                               headers={"X-Forwarded-For": "203.0.113.7"}, timeout=60)  # fmt: skip
    finally:
        server.configure(server.ServerLimits())
    assert statuses == [200, 200, 200, 200, 429, 429], statuses
    assert "upload limit reached" in messages[-1] and "/" not in json.loads(messages[-1])["detail"].split(":")[0]
    assert other.status_code == 200, "another client's share is untouched"
    on_disk = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file())
    assert on_disk <= 3 * 2**20 + len(blob), f"the cache holds {on_disk} bytes"


def test_a_public_server_refuses_a_clients_requests_past_its_rate(tmp_path, monkeypatch):
    """Pages and configs draw 10 tokens, events 1, assets none; past the burst a client gets a
    one-line 429 with Retry-After and a closed connection, and other clients are untouched."""
    from explorer.serve import limits as server
    from explorer.serve.rate import PAGE_COST, PUBLIC_REQUEST_BURST, RequestRate
    from explorer.ui import middleware

    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path))
    # the clock stands still, so no bucket refills while a slow machine answers
    monkeypatch.setattr(middleware, "RequestRate", lambda: RequestRate(clock=lambda: 0.0))
    server.configure(server.ServerLimits(public=True))
    abuser = {"X-Forwarded-For": "203.0.113.9"}
    try:
        with running_app() as url:
            base = url.rstrip("/")
            pages = int(PUBLIC_REQUEST_BURST // PAGE_COST)
            with httpx.Client(timeout=30) as http:
                answers = [http.get(f"{base}/config", headers=abuser) for _ in range(pages + 1)]
                theme = http.get(f"{base}/theme.css", headers=abuser)
                other = http.get(f"{base}/config", headers={"X-Forwarded-For": "203.0.113.10"})
    finally:
        server.configure(server.ServerLimits())
    assert [a.status_code for a in answers] == [200] * pages + [429]
    refused = answers[-1]
    assert refused.json()["detail"].startswith("too many requests from you: try again in")
    assert refused.headers["connection"] == "close" and int(refused.headers["retry-after"]) >= 1
    assert theme.status_code == 200, "static assets cost nothing"
    assert other.status_code == 200, "another client's share is untouched"


def test_a_read_only_server_answers_unknown_endpoints_404(tmp_path, monkeypatch):
    from explorer.serve import limits as server

    monkeypatch.setenv("EXPLORER_MODELS_DIR", str(tmp_path))
    server.configure(server.ServerLimits(read_only=True, public=True))
    try:
        with running_app() as url:
            base = url.rstrip("/")
            answers = [httpx.post(f"{base}/gradio_api/call/train_start", json={"data": []}, timeout=30),
                       httpx.post(f"{base}/gradio_api/call/nonexistent", json={"data": [1]}, timeout=30),
                       httpx.get(f"{base}/gradio_api/call/nonexistent/abc", timeout=30),
                       httpx.post(f"{base}/gradio_api/queue/join", json={"data": [], "fn_index": 9999,
                                                                         "session_hash": "x"}, timeout=30)]  # fmt: skip
            good = httpx.post(f"{base}/gradio_api/call/reverse_sample", json={"data": REVERSE}, timeout=30)
    finally:
        server.configure(server.ServerLimits())
    assert [a.status_code for a in answers] == [404, 404, 404, 404]
    assert answers[0].json()["detail"] == "this server has no endpoint called 'train_start'"
    assert good.status_code == 200 and "event_id" in good.json()


FRAMEWORK_CASES = [
    # (what, endpoint, data, the one line expected)
    ("text where a file goes", "latent_invert", ["digits-unet", 10, 16, 0, "abc"],
     "a file input takes a file uploaded"),
    ("a URL as a file", "latent_invert", ["digits-unet", 10, 16, 0, {"path": "https://example.com/x.png",
     "url": "https://example.com/x.png", "meta": {"_type": "gradio.FileData"}}], "may not be a URL"),
    ("an empty path as a file", "latent_invert", ["digits-unet", 10, 16, 0, {"path": "",
     "meta": {"_type": "gradio.FileData"}}], "may only name a file uploaded"),
    ("too few values", "latent_invert", ["digits-unet"], "this endpoint takes 5 values, got 1"),
]  # fmt: skip


@pytest.mark.parametrize("what, endpoint, values, message", FRAMEWORK_CASES, ids=[c[0] for c in FRAMEWORK_CASES])
def test_gradios_own_input_checks_answer_in_one_line_without_paths(app, what, endpoint, values, message):
    url, _ = app
    stream = raw_call(url, endpoint, json.dumps({"data": values}))
    error = json.loads(stream.split("event: error\ndata: ", 1)[1].splitlines()[0])["error"]
    assert message in error and "\n" not in error and "/tmp" not in error and "/work" not in error, error


HOSTILE = {"NaN": float("nan"), "inf": float("inf"), "-inf": float("-inf"), "text": "abc", "superscript": "²",
           "huge": "HUGE", "negative": -1e9, "list": [1], "dict": {"a": 1}, "1 MB": "x" * 2**20, "NUL": "a\x00b",
           "path": "/etc/passwd"}  # fmt: skip
SMALL_REVERSE = ["spiral-mlp", 20, 0, "beta_tilde", False, "any", 1.0, False, ""]
ATTACKED = {0: "model", 1: "samples", 2: "seed", 3: "variance", 6: "guidance scale", 8: "strip"}


@pytest.mark.parametrize("index", list(ATTACKED), ids=list(ATTACKED.values()))
def test_72_hostile_values_get_one_line_answers_without_paths(app, index):
    """Twelve hostile values into six fields of the Reverse tab's Sample through the raw API: each
    is answered (a result, or one line of at most 300 characters that names no server path)."""
    url, _ = app
    for name, value in HOSTILE.items():
        values = list(SMALL_REVERSE)
        values[index] = value
        body = json.dumps({"data": values}).replace('"HUGE"', "9" * 5000)  # an integer literal past int()'s limit
        base = url.rstrip("/") + "/gradio_api/call/reverse_sample"
        posted = httpx.post(base, content=body, headers={"Content-Type": "application/json"}, timeout=30)
        if posted.status_code != 200:  # refused before it is queued (a body that does not parse)
            assert posted.status_code in (400, 413, 422) and len(posted.text) <= 300, (name, posted.text[:200])
            continue
        stream = httpx.get(f"{base}/{posted.json()['event_id']}", timeout=60).text
        if "event: error" not in stream:
            assert "event: complete" in stream, (name, stream[:200])
            continue
        data = stream.split("event: error\ndata: ", 1)[1].splitlines()[0]
        error = (json.loads(data) or {}).get("error") if data != "null" else None
        assert error and "\n" not in error and len(error) <= 300, (ATTACKED[index], name, error)
        assert not re.search(r"/tmp|/work|site-packages|Traceback", error), (ATTACKED[index], name, error)


@pytest.mark.parametrize("index, value, message", [
    (4, 1, "(it memorises the training set)' expects true or false, got 1"),
    (4, "no", "expects true or false, got 'no'"),
    (1, 20.5, "expects a whole number, got 20.5"),
])  # fmt: skip
def test_a_checkbox_takes_only_booleans_and_a_count_only_whole_numbers(app, index, value, message):
    """Gradio would read a checkbox's 1 or "no" by its truthiness and pass a sample count of 20.5 on."""
    url, _ = app
    values = list(SMALL_REVERSE)
    values[index] = value
    stream = raw_call(url, "reverse_sample", json.dumps({"data": values}))
    error = json.loads(stream.split("event: error\ndata: ", 1)[1].splitlines()[0])["error"]
    assert error.endswith(message) and "\n" not in error, error
