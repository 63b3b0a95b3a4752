"""`make accept-loss`: acknowledge the offsets no layer holds any more, so batch runs cover
what comes after them (answers keep naming them in ``meta.batch.lost``)."""

import sys

from batch_layer.settings import BatchSettings
from common.errors import LambdaError
from common.runtime.logs import setup_logging
from common.storage.lake import Lake
from common.storage.quarantine import accept_losses, accepted


def main() -> int:
    """Accept every loss recorded so far; print what was accepted; exit 1 on an error."""
    setup_logging("batch")
    try:
        lake = Lake(BatchSettings().data_dir)
        lake.read_generation()  # fail clearly outside a pipeline's data directory
        new = accept_losses(lake)
    except LambdaError as exc:
        print(f"accept-loss failed: {exc}", file=sys.stderr)
        return 1
    if not new:
        print(f"no new losses to accept ({len(accepted(lake))} accepted before)")
        return 0
    for r in new:
        print(
            f"accepted: generation {r.generation} partition {r.partition} offsets "
            f"{r.first}-{r.last} ({r.last - r.first + 1} offsets)"
        )
    print("batch runs now cover what comes after them; answers name them in meta.batch.lost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
