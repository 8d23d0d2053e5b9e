"""``python -m tests.tui.headless run -C DIR``: ``avstudio`` with the fake pipeline installed."""

from tests.tui.fakestages import install

install()

from avstudio.cli import main  # noqa: E402

if __name__ == "__main__":
    main()
