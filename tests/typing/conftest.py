# user_pkg is code to type-check, not tests to run.
collect_ignore = ["user_pkg"]
