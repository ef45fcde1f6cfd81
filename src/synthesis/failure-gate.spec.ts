import { FailureGate } from './failure-gate';

describe(FailureGate.name, () => {
  const from = (client: string, input = `${client}-text`) => ({ client, input });

  it('should let one client bring the run to threshold - 1 but not open it alone', () => {
    const gate = new FailureGate(3);
    expect(gate.admit(from('a', 'x'), 'response')).toBe(true);
    expect(gate.admit(from('a', 'y'), 'response')).toBe(true);
    expect(gate.admit(from('a', 'z'), 'response')).toBe(false);
    expect(gate.admit(from('b'), 'response')).toBe(true);
  });

  it('should count one failing text once too, whoever sends it', () => {
    const gate = new FailureGate(3);
    expect(gate.admit(from('a', 'same'), 'response')).toBe(true);
    expect(gate.admit(from('b', 'same'), 'response')).toBe(true);
    expect(gate.admit(from('c', 'same'), 'response')).toBe(false);
  });

  it('should always count transport failures (a dead engine opens the circuit even for one client)', () => {
    const gate = new FailureGate(3);
    for (let i = 0; i < 5; i++) expect(gate.admit(from('a', 'x'), 'transport')).toBe(true);
  });

  it('should start over after a reset', () => {
    const gate = new FailureGate(2);
    expect(gate.admit(from('a'), 'response')).toBe(true);
    expect(gate.admit(from('a'), 'response')).toBe(false);
    gate.reset();
    expect(gate.admit(from('a'), 'response')).toBe(true);
  });
});
