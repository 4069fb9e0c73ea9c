// remote29 probe 3: per-byte CPU of socket -> buffer -> UFFDIO_COPY on loopback (sender: sendfile from the page cache),
// against the size of the receive buffers, how long the copy lags the receive (cache-hot or not), MSG_WAITALL,
// SO_RCVBUF (RCVBUF=bytes), transparent huge pages for the buffers (HUGE=1) and buffers faulted in during the run (COLD=1).
// usage: hot MODE MiB CHUNK_KiB LAG   MODE = ring (recv CHUNK into buffer i of a ring, UFFDIO_COPY buffer i-LAG)
//                                     MODE = waitall (same, recv with MSG_WAITALL)
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/sendfile.h>
#include <sys/wait.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/userfaultfd.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec/1e9;}
static double cpu(int who){struct rusage r;getrusage(who,&r);return r.ru_utime.tv_sec+r.ru_stime.tv_sec+(r.ru_utime.tv_usec+r.ru_stime.tv_usec)/1e6;}
int main(int argc,char**argv){
  const char*mode=argv[1]; size_t mib=atoi(argv[2]); size_t chunk=(size_t)atoi(argv[3])<<10; int lag=atoi(argv[4]);
  size_t total=mib<<20; int nbuf=lag+1;
  int lfd=socket(AF_INET,SOCK_STREAM,0); int one=1; setsockopt(lfd,SOL_SOCKET,SO_REUSEADDR,&one,sizeof one);
  struct sockaddr_in a={.sin_family=AF_INET,.sin_addr.s_addr=htonl(INADDR_LOOPBACK)}; socklen_t al=sizeof a;
  bind(lfd,(void*)&a,sizeof a); listen(lfd,1); getsockname(lfd,(void*)&a,&al);
  static char path[]="/tmp/remote29-copyXXXXXX"; int ffd=mkstemp(path); char*b=malloc(1<<20);
  for(size_t i=0;i<mib;i++){for(int j=0;j<(1<<20);j+=8)*(unsigned long*)(b+j)=i*(1<<20)+j+1; write(ffd,b,1<<20);} fsync(ffd);
  { char*m=mmap(NULL,total,PROT_READ,MAP_SHARED,ffd,0); volatile unsigned long s=0; for(size_t i=0;i<total;i+=4096)s+=m[i]; munmap(m,total);} // warm page cache
  int uffd=syscall(SYS_userfaultfd,O_CLOEXEC); struct uffdio_api api={.api=UFFD_API}; ioctl(uffd,UFFDIO_API,&api);
  char*dst=mmap(NULL,total,PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0);
  struct uffdio_register reg={.range={(unsigned long)dst,total},.mode=UFFDIO_REGISTER_MODE_MISSING}; if(ioctl(uffd,UFFDIO_REGISTER,&reg)){perror("register");return 1;}
  size_t rb=chunk*nbuf; char*raw=mmap(NULL,rb+(2<<20),PROT_READ|PROT_WRITE,MAP_PRIVATE|MAP_ANONYMOUS,-1,0); char*ring=(char*)(((unsigned long)raw+(2<<20)-1)&~((2ul<<20)-1));
  if(getenv("HUGE")) madvise(ring,rb,MADV_HUGEPAGE); if(!getenv("COLD")) memset(ring,0,rb);
  double c0p=cpu(RUSAGE_SELF), t0=now();
  pid_t p=fork();
  if(p==0){ int s=socket(AF_INET,SOCK_STREAM,0); connect(s,(void*)&a,sizeof a); off_t off=0;
    while(off<(off_t)total){ssize_t n=sendfile(s,ffd,&off,total-off); if(n<=0)_exit(3);} close(s); _exit(0);}
  int c=accept(lfd,NULL,NULL); if(getenv("RCVBUF")){int rb=atoi(getenv("RCVBUF"));setsockopt(c,SOL_SOCKET,SO_RCVBUF,&rb,4);} int flags=!strcmp(mode,"waitall")?MSG_WAITALL:0;
  size_t nchunks=total/chunk; size_t recvcalls=0;
  for(size_t i=0;i<nchunks+lag;i++){
    if(i<nchunks){ char*buf=ring+(i%nbuf)*chunk; size_t got=0; while(got<chunk){ssize_t n=recv(c,buf+got,chunk-got,flags); recvcalls++; if(n<=0){perror("recv");return 1;} got+=n;} }
    if(i>=(size_t)lag){ size_t k=i-lag; struct uffdio_copy cp={.dst=(unsigned long)dst+k*chunk,.src=(unsigned long)(ring+(k%nbuf)*chunk),.len=chunk,.mode=0};
      if(ioctl(uffd,UFFDIO_COPY,&cp)||cp.copy!=(long)chunk){perror("UFFDIO_COPY");return 1;} }
  }
  double t1=now(), c1=cpu(RUSAGE_SELF); int st; waitpid(p,&st,0); double cchild=cpu(RUSAGE_CHILDREN);
  for(size_t i=0;i<total;i+=4096*97) if(*(unsigned long*)(dst+i)!=i+1){fprintf(stderr,"bad data at %zu\n",i);return 1;}
  printf("%s%s%-8s chunk %5zu KiB lag %2d: %.3f s wall, receiver %.3f CPU s/GiB, sender %.3f s/GiB, %zu recv calls\n",getenv("HUGE")?"huge ":"4k   ",getenv("COLD")?"cold ":"warm ",mode,chunk>>10,lag,t1-t0,(c1-c0p)*1024/mib,cchild*1024/mib,recvcalls);
  unlink(path); return 0;}
