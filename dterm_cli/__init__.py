"""The `dterm` command: the processes (worker, front end), `dterm up`, keys, accounts.

It sits above the three packages and imports from them; nothing imports from it.
"""
