"""``python -m avstudio`` runs the command-line interface."""

from avstudio.cli import main

if __name__ == "__main__":
    main()
