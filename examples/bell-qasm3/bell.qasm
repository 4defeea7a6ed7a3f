OPENQASM 3.0;
include "stdgates.inc";

// A Bell pair: only 00 and 11 are ever measured.
qubit[2] q;
bit[2] c;
h q[0];
cx q[0], q[1];
c = measure q;
