// remote29 probe 2: the whole destination pipeline on loopback, CPU per GiB of both sides.
//  base:  source sendfile (page cache)        -> daemon recv into a 4 MiB buffer -> UFFDIO_COPY from it
//  zc:    source send MSG_ZEROCOPY (from a mapping of the pages file, or anon) -> daemon TCP_ZEROCOPY_RECEIVE maps the
//         payload pages -> UFFDIO_COPY straight from the mapping (whatever is not mappable: recv into the buffer)
// usage: zerocopy-pipeline base|zc MiB   (ZCANON=1: the source sends from an anonymous copy, not the file mapping)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <linux/userfaultfd.h>
#include <linux/errqueue.h>
#include <time.h>
struct zc { uint64_t address; uint32_t length, recv_skip_hint, inq; int32_t err; uint64_t copybuf_address; int32_t copybuf_len; uint32_t flags; uint64_t msg_control, msg_controllen; uint32_t msg_flags, reserved; };
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static double cpu(int who){struct rusage r;getrusage(who,&r);return r.ru_utime.tv_sec+r.ru_stime.tv_sec+(r.ru_utime.tv_usec+r.ru_stime.tv_usec)/1e6;}
static int uffd; static char*dst; static size_t placed;
static void place(char*src,size_t len){ struct uffdio_copy cp={.dst=(unsigned long)dst+placed,.src=(unsigned long)src,.len=len};
  if(ioctl(uffd,UFFDIO_COPY,&cp)||cp.copy!=(long)len){perror("UFFDIO_COPY");exit(1);} placed+=len; }
int main(int argc,char**argv){
  const char*mode=argv[1]; size_t mib=atoi(argv[2]); size_t total=mib<<20; size_t chunk=4<<20;
  int lfd=socket(AF_INET,SOCK_STREAM,0); int one=1; setsockopt(lfd,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(INADDR_LOOPBACK)}; socklen_t al=sizeof a;
  bind(lfd,(void*)&a,sizeof a); listen(lfd,1); getsockname(lfd,(void*)&a,&al);
  static char path[]="/tmp/remote29-zc2XXXXXX"; int ffd=mkstemp(path); char*b=malloc(1<<20);
  for(size_t i=0;i<mib;i++){for(int j=0;j<(1<<20);j+=8)*(unsigned long*)(b+j)=i*(1<<20)+j+1; write(ffd,b,1<<20);} fsync(ffd);
  { char*m=mmap(NULL,total,PROT_READ,MAP_SHARED,ffd,0); volatile unsigned long s=0; for(size_t i=0;i<total;i+=4096)s+=m[i]; munmap(m,total);}
  uffd=syscall(SYS_userfaultfd,O_CLOEXEC); struct uffdio_api api={.api=UFFD_API}; ioctl(uffd,UFFDIO_API,&api);
  dst=mmap(NULL,total,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  struct uffdio_register reg={.range={(unsigned long)dst,total},.mode=UFFDIO_REGISTER_MODE_MISSING}; if(ioctl(uffd,UFFDIO_REGISTER,&reg)){perror("register");return 1;}
  char*buf=aligned_alloc(4096,chunk); memset(buf,0,chunk);
  double c0=cpu(RUSAGE_SELF), t0=now();
  pid_t p=fork();
  if(p==0){ int s=socket(AF_INET,SOCK_STREAM,0); connect(s,(void*)&a,sizeof a); double cs=cpu(RUSAGE_SELF);
    if(!strcmp(mode,"base")){ off_t off=0; while(off<(off_t)total){ssize_t n=sendfile(s,ffd,&off,total-off); if(n<=0)_exit(3);} }
    else { setsockopt(s,SOL_SOCKET,SO_ZEROCOPY,&one,4); char*m=mmap(NULL,total,PROT_READ,MAP_SHARED|MAP_POPULATE,ffd,0); if(getenv("ZCANON")){ char*an=mmap(NULL,total,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS|MAP_POPULATE,-1,0); memcpy(an,m,total); m=an; cs=cpu(RUSAGE_SELF);} size_t w=0; long notes=0;
      while(w<total){ ssize_t n=send(s,m+w,(total-w)<chunk?(total-w):chunk,MSG_ZEROCOPY);
        if(n<0){ if(errno!=ENOBUFS&&errno!=EAGAIN)_exit(6); char cb[256]; struct msghdr mh={.msg_control=cb,.msg_controllen=sizeof cb}; if(recvmsg(s,&mh,MSG_ERRQUEUE|MSG_DONTWAIT)>=0)notes++; else usleep(50); continue;} w+=n;}
      // completions must be reaped before the mapping goes away
      for(int i=0;i<2000;i++){ char cb[256]; struct msghdr mh={.msg_control=cb,.msg_controllen=sizeof cb}; if(recvmsg(s,&mh,MSG_ERRQUEUE|MSG_DONTWAIT)<0){ if(errno==EAGAIN) { shutdown(s,SHUT_WR); break;} } }
    }
    char x; while(recv(s,&x,1,0)>0){} fprintf(stderr,"  sender CPU %.3f s/GiB\n",(cpu(RUSAGE_SELF)-cs)*1024/mib); close(s); _exit(0);}
  int c=accept(lfd,NULL,NULL); size_t mapped=0;
  if(!strcmp(mode,"base")){ while(placed<total){ size_t got=0; while(got<chunk){ssize_t n=recv(c,buf+got,chunk-got,0); if(n<=0){perror("recv");return 1;} got+=n;} place(buf,chunk);} }
  else { char*area=mmap(NULL,chunk,PROT_READ,MAP_SHARED,c,0); if(area==MAP_FAILED){perror("mmap");return 1;}
    size_t staged=0;
    while(placed<total){
      if(staged){ size_t want=4096-(staged%4096); ssize_t n=recv(c,buf+staged,want,MSG_WAITALL); if(n<=0){perror("recv3");return 1;} staged+=n;
        if(staged%4096==0){ place(buf,staged); staged=0;} continue; }
      struct zc z; memset(&z,0,sizeof z); z.address=(unsigned long)area; z.length=chunk; socklen_t zl=sizeof z;
      if(getsockopt(c,IPPROTO_TCP,TCP_ZEROCOPY_RECEIVE,&z,&zl)){fprintf(stderr,"zc: %s at %zu\n",strerror(errno),placed);return 1;}
      if(z.length){ place(area,z.length); mapped+=z.length; madvise(area,z.length,MADV_DONTNEED); }
      size_t skip=z.recv_skip_hint; if(!z.length&&!skip) skip=4096;
      if(skip){ if(skip>total-placed)skip=total-placed; ssize_t n=recv(c,buf,skip,MSG_WAITALL); if(n<=0){perror("recv2");return 1;}
        size_t whole=(size_t)n&~4095ul; if(whole) place(buf,whole); staged=n-whole; if(staged) memmove(buf,buf+whole,staged); } } }
  double t1=now(), c1=cpu(RUSAGE_SELF); shutdown(c,SHUT_WR); int st; waitpid(p,&st,0);
  for(size_t i=0;i<total;i+=4096*7) if(*(unsigned long*)(dst+i)!=i+1){fprintf(stderr,"bad data at %zu\n",i);return 1;}
  printf("%-5s %zu MiB: %.3f s wall, daemon side %.3f CPU s/GiB, mapped %.0f %%\n",mode,mib,t1-t0,(c1-c0)*1024/mib,100.0*mapped/total);
  unlink(path); return 0;}
