"""The fixed-cost reference for issue 10: a bare Prefect flow with one task, run like `baocao collect`."""

from prefect import flow, task


@task
def one() -> int:
    return 1


@flow
def bare() -> int:
    return one.submit().result()


if __name__ == "__main__":
    bare()
