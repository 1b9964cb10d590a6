import time, pytest
from prefect import flow, task
from tasks.identity import caller_identity
pytestmark = pytest.mark.usefixtures("sandbox", "prefect_harness")

@task
def t1(x): return x
@flow
def f0(): return 1
@flow
def f3(): return [t1(i) for i in range(3)]
@flow
def fc(): return caller_identity()

def test_prof():
    for fn in (f0, f0, f3, f3, fc, fc):
        t=time.perf_counter(); fn(); print(fn.name, time.perf_counter()-t)
    t=time.perf_counter(); caller_identity.fn(); print("fn", time.perf_counter()-t)
