import { publicReason } from './provider.registry';

describe('publicReason', () => {
  it('should hide URLs, addresses, host:port pairs and paths', () => {
    const reason = publicReason(
      'Coqui tts-server at http://tts.internal:5002/api is unreachable: connect ECONNREFUSED 10.1.2.3:5002 (see /srv/app/log)',
    );
    expect(reason).not.toMatch(/tts\.internal|10\.1\.2\.3|5002|\/srv/);
    expect(reason).toContain('ECONNREFUSED');
  });
});
