: Synapse_AMPA_NMDA -- AMPA and NMDA receptors, each a normalised double exponential, with a
: Jahr-Stevens-type Mg block on the NMDA part (the ball-and-stick cells' excitatory synapse).
: Written for this project from /work/shared/spec/ball_and_stick.md section 1 ("Synapses").
:
:   A' = -A/tau_r,  B' = -B/tau_d       (one pair per receptor)
:   g_AMPA = gmax_AMPA * (B_AMPA - A_AMPA)
:   g_NMDA = gmax_NMDA * (B_NMDA - A_NMDA) * mggate,  mggate = 1 / (1 + mg/3.57 mM * exp(-gamma * v))
:   i = (g_AMPA + g_NMDA) * (v - e)
:
: An event of weight w adds w*factor to A and B of both receptors; factor makes the peak of (B - A) equal
: to w, so one event's peak conductance is gmax * w (Mg block aside). Presets (uS, /mV):
: AMPA 0.0004/0/0.062, rodent NMDA 0.0004/0.0004/0.062, human NMDA 0.0004/0.0008/0.08.

NEURON {
    POINT_PROCESS Synapse_AMPA_NMDA
    NONSPECIFIC_CURRENT i
    RANGE tau_r_AMPA, tau_d_AMPA, tau_r_NMDA, tau_d_NMDA, gmax_AMPA, gmax_NMDA, e, mg, mg_half, gamma
    RANGE g, g_AMPA, g_NMDA, i_AMPA, i_NMDA, mggate
}

UNITS {
    (nA) = (nanoamp)
    (mV) = (millivolt)
    (uS) = (microsiemens)
    (mM) = (milli/liter)
}

PARAMETER {
    tau_r_AMPA = 0.3 (ms)    : AMPA rise time constant
    tau_d_AMPA = 3.0 (ms)    : AMPA decay time constant
    tau_r_NMDA = 2.0 (ms)    : NMDA rise time constant
    tau_d_NMDA = 70 (ms)     : NMDA decay time constant
    gmax_AMPA = 0.0004 (uS)  : AMPA peak conductance of an event of weight 1
    gmax_NMDA = 0.0004 (uS)  : NMDA peak conductance of an event of weight 1 (before the Mg block)
    e = 0 (mV)               : reversal potential of both receptors
    mg = 1 (mM)              : extracellular Mg concentration
    mg_half = 3.57 (mM)      : Mg concentration of half block at 0 mV
    gamma = 0.062 (/mV)      : steepness of the Mg block
}

ASSIGNED {
    v (mV)
    i (nA)
    i_AMPA (nA)
    i_NMDA (nA)
    g (uS)
    g_AMPA (uS)
    g_NMDA (uS)
    mggate (1)
    factor_AMPA (1)
    factor_NMDA (1)
}

STATE {
    A_AMPA (1)
    B_AMPA (1)
    A_NMDA (1)
    B_NMDA (1)
}

INITIAL {
    if (tau_r_AMPA >= tau_d_AMPA || tau_r_NMDA >= tau_d_NMDA) {
        printf("Synapse_AMPA_NMDA: every rise time constant must be shorter than its decay time constant\n")
    }
    A_AMPA = 0
    B_AMPA = 0
    A_NMDA = 0
    B_NMDA = 0
    factor_AMPA = peak_factor(tau_r_AMPA, tau_d_AMPA)
    factor_NMDA = peak_factor(tau_r_NMDA, tau_d_NMDA)
}

BREAKPOINT {
    SOLVE state METHOD cnexp
    mggate = 1 / (1 + (mg / mg_half) * exp(-gamma * v))
    g_AMPA = gmax_AMPA * (B_AMPA - A_AMPA)
    g_NMDA = gmax_NMDA * (B_NMDA - A_NMDA) * mggate
    i_AMPA = g_AMPA * (v - e)
    i_NMDA = g_NMDA * (v - e)
    g = g_AMPA + g_NMDA
    i = i_AMPA + i_NMDA
}

DERIVATIVE state {
    A_AMPA' = -A_AMPA / tau_r_AMPA
    B_AMPA' = -B_AMPA / tau_d_AMPA
    A_NMDA' = -A_NMDA / tau_r_NMDA
    B_NMDA' = -B_NMDA / tau_d_NMDA
}

FUNCTION peak_factor(tau_r (ms), tau_d (ms)) (1) {
    : 1 / (exp(-tp/tau_d) - exp(-tp/tau_r)) with tp the time of the peak of exp(-t/tau_d) - exp(-t/tau_r)
    LOCAL tp
    tp = (tau_r * tau_d) / (tau_d - tau_r) * log(tau_d / tau_r)
    peak_factor = 1 / (exp(-tp / tau_d) - exp(-tp / tau_r))
}

NET_RECEIVE (weight) {
    A_AMPA = A_AMPA + weight * factor_AMPA
    B_AMPA = B_AMPA + weight * factor_AMPA
    A_NMDA = A_NMDA + weight * factor_NMDA
    B_NMDA = B_NMDA + weight * factor_NMDA
}
