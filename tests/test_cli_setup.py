"""`python -m ecom_reflex.cli setup` as `make run` calls it, in a real subprocess."""

import os
import sqlite3
import subprocess
import sys

from ecom_reflex.settings import PROJECT_ROOT


def run_setup(db_file, **extra):
    env = {**os.environ, "DB_URL": f"sqlite:///{db_file}", **extra}
    env.pop("ADMIN_PASSWORD", None) if "ADMIN_PASSWORD" not in extra else None
    return subprocess.run(
        [sys.executable, "-m", "ecom_reflex.cli", "setup"],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def test_setup_twice_prints_the_password_once_and_keeps_data(tmp_path):
    db_file = tmp_path / "shop.db"
    first = run_setup(db_file)
    assert "seeded 48 products" in first.stdout
    assert "shown only once" in first.stdout and "password:" in first.stdout

    with sqlite3.connect(db_file) as connection:
        connection.execute("UPDATE products SET stock = 777 WHERE id = 1")
        connection.execute(
            "INSERT INTO users (username, email, password_hash, is_admin, is_active, created_at)"
            " VALUES ('shopper', 'shopper@example.com', 'x', 0, 1, '2026-01-01')"
        )

    second = run_setup(db_file)
    assert "password:" not in second.stdout
    assert "kept the existing catalogue" in second.stdout
    assert "password unchanged" in second.stdout
    with sqlite3.connect(db_file) as connection:
        assert connection.execute("SELECT stock FROM products WHERE id = 1").fetchone() == (777,)
        assert connection.execute("SELECT count(*) FROM products").fetchone() == (48,)
        assert connection.execute("SELECT count(*) FROM users").fetchone() == (2,)


def test_setup_with_admin_password_prints_no_secret(tmp_path):
    result = run_setup(tmp_path / "shop.db", ADMIN_PASSWORD="a-chosen-password")
    assert "a-chosen-password" not in result.stdout + result.stderr
    assert "with the password from ADMIN_PASSWORD" in result.stdout


def test_reflex_noise_is_left_out_of_what_make_run_prints():
    from ecom_reflex.cli import shown_reflex_line

    noise = [
        "Success: Initialized ecom_reflex. Run `uv run reflex run` to start the app.",
        "Detected database schema changes. Run reflex db makemigrations to generate migration scripts.",
        "Warning: Your version (20.20.2) of Node.js is out of date. Upgrade to 22.22.0 or higher.",
    ]
    assert [shown_reflex_line(line) for line in noise] == [None, None, None]
    kept = ["App running at: http://127.0.0.1:8000/", '{"level": "ERROR", "message": "Detected"}', "Compiling: 100%"]
    assert [shown_reflex_line(line) for line in kept] == kept
