"""No position method: the rope parameters stay as pretrained."""


def rope_parameters(current: dict, orig: int, position, target_len: int) -> tuple[dict, int]:
    return dict(current), max(orig, target_len)


def validate(position) -> None:
    pass
