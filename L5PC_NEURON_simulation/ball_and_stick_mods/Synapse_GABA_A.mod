: Synapse_GABA_A -- a normalised double-exponential conductance synapse (the ball-and-stick cells'
: inhibitory synapse). Written for this project from /work/shared/spec/ball_and_stick.md section 1.
:
:   A' = -A/tau_r,  B' = -B/tau_d,  g = gmax * (B - A),  i = g * (v - e)
:
: An event of weight w adds w*factor to A and B, so its peak conductance is gmax * w. The defaults
: (0.5 / 8 ms, -70 mV, 0.0004 uS) are overridden by the cell: 0.2 / 8 ms, -85 mV, 0.001 uS.

NEURON {
    POINT_PROCESS Synapse_GABA_A
    NONSPECIFIC_CURRENT i
    RANGE tau_r, tau_d, gmax, e, g
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
}

PARAMETER {
    tau_r = 0.5 (ms)      : rise time constant
    tau_d = 8 (ms)        : decay time constant
    gmax = 0.0004 (uS)    : peak conductance of an event of weight 1
    e = -70 (mV)          : reversal potential
}

ASSIGNED {
    v (mV)
    i (nA)
    g (uS)
    factor (1)
}

STATE {
    A (1)
    B (1)
}

INITIAL {
    LOCAL tp
    if (tau_r >= tau_d) {
        printf("Synapse_GABA_A: the rise time constant must be shorter than the decay time constant\n")
    }
    A = 0
    B = 0
    tp = (tau_r * tau_d) / (tau_d - tau_r) * log(tau_d / tau_r)
    factor = 1 / (exp(-tp / tau_d) - exp(-tp / tau_r))
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    g = gmax * (B - A)
    i = g * (v - e)
}

DERIVATIVE state {
    A' = -A / tau_r
    B' = -B / tau_d
}

NET_RECEIVE (weight) {
    A = A + weight * factor
    B = B + weight * factor
}
