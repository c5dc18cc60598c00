"""`--kernel VERSION` and `--mlocked I,J,...`: the options of every command that builds the
protocol model (`verify`, `export --protocol`), checked before any work (one message,
exit 2 through the caller's usage error)."""
from __future__ import annotations

from .model.kernels import DEFAULT_KERNEL, KERNELS, kernel_named
from .model.protocol import ProtocolConfig


def add_kernel_options(p) -> None:
    p.add_argument("--kernel", default=None, metavar="VERSION",
                   help=f"the protocol as kernel VERSION had it: {', '.join(KERNELS)} "
                        f"(default {DEFAULT_KERNEL}; 5.17-rc1 to -rc5 are 5.17-rc; "
                        "docs/kernel.md §13)")
    p.add_argument("--mlocked", default=None, metavar="I,J,...",
                   help="treat these VMAs (layout indices) as VM_LOCKED, besides those whose "
                        "smaps VmFlags show `lo` (matters before 5.18)")


def parse_mlocked(text: str | None, vmas: int) -> tuple[int, ...]:
    """'0,2' -> (0, 2); ValueError naming the bad item (not an index of a VMA of the
    `vmas` the layout has)."""
    if text is None:
        return ()
    out = []
    for item in text.split(","):
        item = item.strip()
        if not item.isdigit():
            raise ValueError(f"--mlocked wants VMA indices like 0,2, not {item!r}")
        if int(item) >= vmas:
            raise ValueError(f"--mlocked {item}: the layout has {vmas} VMAs (0 to {vmas - 1})")
        out.append(int(item))
    return tuple(out)


def protocol_config(args, layout, command: str, mutant=None, stuck_writer=False,
                    mrelease=False) -> ProtocolConfig:
    """The ProtocolConfig of the parsed options: the walk defaults to the kernel's
    (forward before 6.18). ValueError with a message for the user."""
    try:
        kernel = kernel_named(args.kernel or DEFAULT_KERNEL)
    except ValueError as err:  # prefixed like every other option error
        raise ValueError(f"reapcheck {command}: --kernel: {err}") from None
    walk = args.walk or kernel.walk
    try:
        return ProtocolConfig(walk, mutant, stuck_writer, mrelease, kernel.version,
                              parse_mlocked(args.mlocked, len(layout)))
    except ValueError as err:
        raise ValueError(f"reapcheck {command}: {err}") from None
