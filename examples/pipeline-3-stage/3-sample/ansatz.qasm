// The VQE's ansatz (RY layer, CX, RY layer) as an OpenQASM 3 circuit whose angles are
// inputs: a PipelineJob stage binds them by name from the stage it reads.
OPENQASM 3.0;
include "stdgates.inc";
input float[64] t0;
input float[64] t1;
input float[64] t2;
input float[64] t3;
qubit[2] q;
ry(t0) q[0];
ry(t1) q[1];
cx q[0], q[1];
ry(t2) q[0];
ry(t3) q[1];
