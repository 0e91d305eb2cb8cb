"""Run `longft ARGS...` and SIGKILL it at a named point: python kill_harness.py POINT ARGS...

Points: step:N (after optimizer step N), checkpoint:N (optimizer.pt of checkpoint-N half written),
export (the stage's final checkpoint written beside its place, not yet renamed into it), stream:N
(after N documents read from a source that stops at a token budget).
Nothing is cleaned up: the process dies as it would under `kill -9`.
"""
import io
import os
import signal
import sys


def die():
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str) -> None:
    kind, _, arg = point.partition(":")
    if kind == "step":
        from longft.train import callbacks

        original = callbacks.ThroughputCallback.on_step_end

        def on_step_end(self, args, state, control, **kwargs):
            original(self, args, state, control, **kwargs)
            if state.global_step == int(arg):
                die()

        callbacks.ThroughputCallback.on_step_end = on_step_end
    elif kind == "checkpoint":
        import torch

        original_save = torch.save

        def save(obj, f, *args, **kwargs):
            if isinstance(f, (str, os.PathLike)) and str(f).endswith("optimizer.pt") and f"checkpoint-{arg}" in str(f):
                buffer = io.BytesIO()
                original_save(obj, buffer, *args, **kwargs)
                data = buffer.getvalue()
                with open(f, "wb") as out:
                    out.write(data[: len(data) // 2])
                    out.flush()
                    os.fsync(out.fileno())
                die()
            return original_save(obj, f, *args, **kwargs)

        torch.save = save
    elif kind == "export":
        from longft.export import checkpoint as export

        original_replace = export.replace_folder

        def replace_folder(tmp, out):
            if out.name == "final":
                die()
            original_replace(tmp, out)

        export.replace_folder = replace_folder
    elif kind == "stream":
        from longft.data import budget

        original_rows = budget._rows

        def rows(*args, **kwargs):
            for i, row in enumerate(original_rows(*args, **kwargs), 1):
                yield row
                if i == int(arg):
                    die()

        budget._rows = rows
    else:
        raise SystemExit(f"unknown kill point {point!r}")


if __name__ == "__main__":
    arm(sys.argv[1])
    from longft.cli import main

    sys.exit(main(sys.argv[2:]))
